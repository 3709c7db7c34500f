// The one retry layer: which failures are worth another attempt, how long to wait, and how a
// server's Retry-After holds back every request of the client, not just the one that got it.
import pRetry from 'p-retry';
import type { RetrySettings } from './settings.js';
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

export interface GateOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * Requests per second to start with and never exceed; undefined = no limit until the server
   * throttles, at which point the budget starts from the rate actually achieved.
   */
  maxRate?: number;
}

/**
 * The one request budget every fetch of a client shares. It paces request starts at `rate`
 * per second and adapts it the way TCP adapts its window: each 429 cuts the rate (once per
 * round of requests, not once per rejected request), each success raises it a little. A
 * Retry-After holds every request back until it has passed. So a 429 slows all concurrent
 * fetches, not just the one that got it.
 */
export class RequestGate {
  private notBefore = 0;
  private nextStart = 0;
  private rate: number;
  private lastCut = -Infinity;
  private readonly recentSuccesses: number[] = [];
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxRate: number;

  /** Multiplicative decrease on a 429, and the floor the rate never goes under. */
  static readonly DECREASE = 0.85;
  static readonly INCREASE = 0.08;
  static readonly MIN_RATE = 0.5;

  constructor(options: GateOptions | (() => number) = {}, sleep?: (ms: number) => Promise<void>) {
    const o: GateOptions = typeof options === 'function' ? { now: options, sleep } : options;
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? defaultSleep;
    this.maxRate = o.maxRate ?? Infinity;
    this.rate = this.maxRate;
  }

  /** The current budget in requests per second (Infinity while unlimited). */
  get currentRate(): number {
    return this.rate;
  }

  holdFor(ms: number): void {
    this.notBefore = Math.max(this.notBefore, this.now() + ms);
  }

  /** Waits for this request's turn and returns the instant it may start. */
  async wait(): Promise<number> {
    for (;;) {
      const now = this.now();
      if (now < this.notBefore) {
        await this.sleep(this.notBefore - now);
        continue;
      }
      if (Number.isFinite(this.rate)) {
        // Claim the slot before sleeping, so that concurrent waiters line up behind it.
        const slot = Math.max(now, this.nextStart);
        this.nextStart = slot + 1000 / this.rate;
        if (slot > now) await this.sleep(slot - now);
        if (this.now() < this.notBefore) continue; // a Retry-After arrived meanwhile
      }
      return this.now();
    }
  }

  onSuccess(): void {
    const now = this.now();
    this.recentSuccesses.push(now);
    while (this.recentSuccesses[0]! < now - 1000) this.recentSuccesses.shift();
    if (!Number.isFinite(this.rate)) return;
    // Per request, so that at the current rate the budget grows by INCREASE per second.
    this.rate = Math.min(this.maxRate, this.rate + (RequestGate.INCREASE * this.rate + 0.2) / this.rate);
  }

  /** A 429 for a request that started at `startedAt`. */
  onThrottled(startedAt: number): void {
    if (startedAt < this.lastCut) return; // sent before the last cut: already accounted for
    const now = this.now();
    // What the server let through in the last second is the best estimate of its limit.
    const admitted = this.recentSuccesses.filter((t) => t >= now - 1000).length;
    if (admitted === 0 && !Number.isFinite(this.rate)) return; // nothing to go by yet: backoff only
    const base = Math.min(this.rate, Math.max(admitted, 1));
    this.rate = Math.max(RequestGate.MIN_RATE, base * RequestGate.DECREASE);
    this.lastCut = now;
    this.nextStart = Math.max(this.nextStart, now + 1000 / this.rate);
  }
}

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RetryContext {
  config: RetrySettings;
  gate: RequestGate;
  logger: Logger;
  /** Called once per failed attempt that will be retried. */
  onRetry?: (error: UpvestError) => void;
  signal?: AbortSignal;
}

/** Runs `attempt` until it succeeds, fails for good, or the attempts or time run out. */
export async function withRetry<T>(what: string, attempt: () => Promise<T>, context: RetryContext): Promise<T> {
  const { config, gate, logger } = context;
  let startedAt = 0;
  return pRetry(
    async () => {
      startedAt = await gate.wait();
      const result = await attempt();
      gate.onSuccess();
      return result;
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
        if (upvest?.code === 'UPVEST_RATE_LIMITED') gate.onThrottled(startedAt);
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
