// The one retry layer: which failures are worth another attempt, how long to wait, and how a
// server's Retry-After holds back every request of the client, not just the one that got it.
import pRetry from 'p-retry';
import type { RetryConfig } from '../config.js';
import { AccountSyncError, UpvestError } from '../errors.js';
import type { Logger } from '../logger.js';

const RETRYABLE = new Set([
  'UPVEST_RATE_LIMITED',
  'UPVEST_SERVER_ERROR',
  'UPVEST_NETWORK',
  'UPVEST_TIMEOUT',
  'UPVEST_BAD_BODY',
]);

const RETRYABLE_SERVER_STATUSES = new Set([500, 502, 503, 504]);

export function isRetryable(error: unknown): boolean {
  if (!(error instanceof AccountSyncError) || !RETRYABLE.has(error.code)) return false;
  if (error instanceof UpvestError && error.code === 'UPVEST_SERVER_ERROR') {
    return error.status === undefined || RETRYABLE_SERVER_STATUSES.has(error.status);
  }
  return true;
}

/**
 * A shared "not before" instant. A Retry-After (or, later, a rate budget) moves it forward and
 * every request waits for it, so concurrent fetches back off together.
 */
export class RequestGate {
  private notBefore = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = defaultSleep,
  ) {}

  holdFor(ms: number): void {
    this.notBefore = Math.max(this.notBefore, this.now() + ms);
  }

  async wait(): Promise<void> {
    for (let delay = this.notBefore - this.now(); delay > 0; delay = this.notBefore - this.now()) {
      await this.sleep(delay);
    }
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RetryContext {
  config: RetryConfig;
  gate: RequestGate;
  logger: Logger;
  /** Called once per failed attempt that will be retried. */
  onRetry?: (error: UpvestError) => void;
  signal?: AbortSignal;
}

/** Runs `attempt` until it succeeds, fails for good, or the attempts or time run out. */
export async function withRetry<T>(what: string, attempt: () => Promise<T>, context: RetryContext): Promise<T> {
  const { config, gate, logger } = context;
  return pRetry(
    async () => {
      await gate.wait();
      return attempt();
    },
    {
      retries: config.retries,
      minTimeout: config.minDelayMs,
      maxTimeout: config.maxDelayMs,
      factor: 2,
      randomize: true,
      maxRetryTime: config.maxRetryTimeMs,
      signal: context.signal,
      shouldRetry: ({ error }) => isRetryable(error),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        const retryable = isRetryable(error) && retriesLeft > 0;
        const upvest = error instanceof UpvestError ? error : undefined;
        if (retryable && upvest?.retryAfterMs !== undefined) gate.holdFor(upvest.retryAfterMs);
        logger[retryable ? 'warn' : 'error'](
          {
            request: what,
            code: upvest?.code ?? (error as { code?: string }).code,
            status: upvest?.status,
            upvestRequestId: upvest?.requestId,
            retryAfterMs: upvest?.retryAfterMs,
            attempt: attemptNumber,
            retriesLeft,
          },
          retryable ? `${what} failed, retrying: ${error.message}` : `${what} failed: ${error.message}`,
        );
        if (retryable && upvest) context.onRetry?.(upvest);
      },
    },
  );
}
