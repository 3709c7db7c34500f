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
 * per second and adapts it the way TCP adapts its window. Unlimited until the server first
 * throttles; then the rate starts from what the server was letting through (the spacing of the
 * latest successes: while a client sends too fast, successes come at the server's own rate),
 * or, when too little got through to tell, from a slow rate that doubles every 100 ms until
 * the next 429 (slow start). From then on each 429 cuts the rate (once per round of requests,
 * not once per rejected request) and each success raises it a little. A Retry-After holds
 * every request back until it has passed. So a 429 slows all concurrent fetches, and a server
 * that allows no burst at all is still used at nearly its full rate.
 */
export class RequestGate {
  private notBefore = 0;
  private nextStart = 0;
  private rate: number;
  private lastCut = -Infinity;
  /** Doubling towards the first 429, rather than holding just under the limit. */
  private probing = false;
  private readonly recentSuccesses: number[] = [];
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxRate: number;

  /** Multiplicative decrease on a 429, and the floor the rate never goes under. */
  static readonly DECREASE = 0.9;
  /** Growth per second between 429s: 8%, plus 0.2 requests a second. */
  static readonly INCREASE = 0.08;
  static readonly MIN_RATE = 0.5;
  /** Where slow start begins, and how often it doubles the rate. */
  static readonly PROBE_RATE = 10;
  static readonly PROBE_DOUBLING_MS = 100;
  /** Successes the server's rate is read from (at least 3, within the last second). */
  static readonly SAMPLE = 10;

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
        // A slot is claimed only when it has come, at the rate of that moment: a waiter that
        // claimed ahead would keep the spacing of a rate that may since have doubled.
        if (now < this.nextStart) {
          await this.sleep(this.nextStart - now);
          continue;
        }
        this.nextStart = now + 1000 / this.rate;
      }
      return this.now();
    }
  }

  onSuccess(): void {
    this.recentSuccesses.push(this.now());
    if (this.recentSuccesses.length > RequestGate.SAMPLE) this.recentSuccesses.shift();
    if (!Number.isFinite(this.rate)) return;
    // Per request: at the current rate, this doubles it every PROBE_DOUBLING_MS, or raises it
    // by INCREASE a second.
    const grown = this.probing
      ? this.rate * 2 ** (1000 / this.rate / RequestGate.PROBE_DOUBLING_MS)
      : this.rate + (RequestGate.INCREASE * this.rate + 0.2) / this.rate;
    this.rate = Math.min(this.maxRate, grown);
  }

  /** A 429 for a request that started at `startedAt`. */
  onThrottled(startedAt: number): void {
    if (startedAt < this.lastCut) return; // sent before the last cut: already accounted for
    const now = this.now();
    const admitted = this.admittedRate(now);
    if (!Number.isFinite(this.rate)) {
      // Sent without a limit so far: the successes came at the server's rate, if enough came.
      this.probing = admitted === undefined;
      this.rate = Math.min(this.maxRate, admitted === undefined ? RequestGate.PROBE_RATE : admitted * RequestGate.DECREASE);
    } else {
      // Slow start has just crossed the limit, or the steady climb has: the rate is about the
      // server's (successes are no guide here: they lag behind a rate that is climbing).
      this.rate = Math.max(RequestGate.MIN_RATE, this.rate * RequestGate.DECREASE);
      this.probing = false;
    }
    this.lastCut = now;
    // The next estimate is of the next round only: successes of a slower past would drag it down.
    this.recentSuccesses.length = 0;
    this.nextStart = Math.max(this.nextStart, now + 1000 / this.rate);
  }

  /** The server's rate as the spacing of the latest successes shows it, if enough are recent. */
  private admittedRate(now: number): number | undefined {
    const recent = this.recentSuccesses.filter((t) => t >= now - 1000);
    if (recent.length < 3) return undefined;
    const span = recent.at(-1)! - recent[0]!;
    return span > 0 ? ((recent.length - 1) * 1000) / span : undefined;
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
