// Switches the tests flip to make the simulator misbehave the ways a real network and a real
// API do. Queued faults are consumed in order by the next matching requests, before any
// authentication, so a test knows exactly which request gets which fault.
import { Prng } from './hash.js';
import { Hold, type HoldOptions } from './holds.js';

export type Fault =
  | { kind: 'status'; status: number; retryAfter?: string; body?: string; contentType?: string }
  | { kind: 'reset' }
  | { kind: 'truncate' }
  | { kind: 'nonjson' }
  | { kind: 'latency'; ms: number }
  /** A small gzip body that unpacks to `bytes` bytes. */
  | { kind: 'gzipBomb'; bytes: number }
  /** The page, answered normally, but holding `items` accounts whatever its limit. */
  | { kind: 'oversize'; items: number }
  /** An error whose detail repeats the request's bearer token, without the word "Bearer". */
  | { kind: 'echoToken'; status: number };

/**
 * Paging that never ends: every page full, and total_count either `totalCount` or, without
 * it, the real count plus `growBy` more on every request.
 */
export interface EndlessPaging {
  totalCount?: number;
  growBy?: number;
}

/** '/accounts', '/auth/token', '*' for any path, or a prefix ending in '/*' ('/accounts/*': every lookup). */
export type FaultPath = '/accounts' | '/auth/token' | '*' | (string & {});

export interface RandomFaults {
  probability: number;
  kinds: Fault[];
  seed?: number;
  path?: FaultPath;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export class Faults {
  private queue: Array<{ path: FaultPath; fault: Fault }> = [];
  private random: { probability: number; kinds: Fault[]; prng: Prng; path: FaultPath } | null = null;
  private latencyMs = 0;
  private rate: { rps: number; burst: number; retryAfter: boolean; buckets: Map<string, Bucket> } | null = null;
  private endlessPaging: (EndlessPaging & { requests: number }) | null = null;
  private holds: Hold[] = [];

  /**
   * Holds requests on `path` (after letting `after` through) until the test releases them:
   * `await hold.arrived()`, look at the world, `hold.release()`.
   */
  hold(path: FaultPath, options: HoldOptions = {}): Hold {
    const after = options.after ?? 0;
    if (!(Number.isInteger(after) && after >= 0)) throw new RangeError('after must be a whole number >= 0');
    const hold = new Hold(path, after);
    this.holds.push(hold);
    return hold;
  }

  /** Settles once every hold on this path lets the request through. */
  async passHolds(path: string): Promise<void> {
    for (const hold of this.holds) if (pathMatches(hold.path, path)) await hold.pass();
  }

  /** Pages that never end (see EndlessPaging); null for honest paging. */
  setEndless(options: EndlessPaging | null): void {
    this.endlessPaging = options === null ? null : { ...options, requests: 0 };
  }

  /** The total_count to report for this request, and whether every page is served full. */
  paging(realCount: number): { totalCount: number; endless: boolean } {
    const endless = this.endlessPaging;
    if (!endless) return { totalCount: realCount, endless: false };
    endless.requests += 1;
    return { totalCount: endless.totalCount ?? realCount + (endless.growBy ?? 0) * endless.requests, endless: true };
  }

  enqueue(path: FaultPath, ...faults: Fault[]): void {
    for (const fault of faults) {
      validate(fault);
      this.queue.push({ path, fault });
    }
  }

  setRandom(options: RandomFaults | null): void {
    if (options === null) {
      this.random = null;
      return;
    }
    if (!(options.probability >= 0 && options.probability <= 1)) throw new RangeError('probability must be within 0..1');
    if (options.kinds.length === 0) throw new RangeError('kinds must not be empty');
    options.kinds.forEach(validate);
    this.random = { probability: options.probability, kinds: [...options.kinds], prng: new Prng(options.seed ?? 1), path: options.path ?? '*' };
  }

  /** Delay before every request is handled. */
  setLatency(ms: number): void {
    if (!(ms >= 0)) throw new RangeError('latency must be >= 0');
    this.latencyMs = ms;
  }

  get latency(): number {
    return this.latencyMs;
  }

  /** A token bucket per upvest-client-id: `rps` per second, bursts of up to `rps`. */
  /**
   * A token bucket per client: `rps` a second, `burst` at most at once (default: one second's
   * worth, full at the start; 1 for a server that allows no burst at all).
   */
  setRateLimit(rps: number | null, options: { retryAfter?: boolean; burst?: number } = {}): void {
    if (rps === null) {
      this.rate = null;
      return;
    }
    if (!(rps > 0)) throw new RangeError('rps must be > 0');
    const burst = options.burst ?? rps;
    if (!(burst >= 1)) throw new RangeError('burst must be >= 1');
    this.rate = { rps, burst, retryAfter: options.retryAfter ?? false, buckets: new Map() };
  }

  pending(): number {
    return this.queue.length;
  }

  clear(): void {
    this.queue = [];
    this.random = null;
    this.latencyMs = 0;
    this.rate = null;
    this.endlessPaging = null;
    for (const hold of this.holds.splice(0)) hold.release();
  }

  /** The fault for this request, if any: queued ones first, then a random draw. */
  take(path: string): Fault | undefined {
    const at = this.queue.findIndex((q) => pathMatches(q.path, path));
    if (at >= 0) return this.queue.splice(at, 1)[0]!.fault;
    const random = this.random;
    if (random && pathMatches(random.path, path) && random.prng.next() < random.probability) {
      return random.kinds[random.prng.int(random.kinds.length)];
    }
    return undefined;
  }

  /** Whether the client is over its rate; `retryAfterSeconds` is only set when it should be sent. */
  throttle(clientKey: string, nowMs: number): { limited: false } | { limited: true; retryAfterSeconds?: number } {
    const rate = this.rate;
    if (!rate) return { limited: false };
    const bucket = rate.buckets.get(clientKey) ?? { tokens: rate.burst, atMs: nowMs };
    bucket.tokens = Math.min(rate.burst, bucket.tokens + ((nowMs - bucket.atMs) * rate.rps) / 1000);
    bucket.atMs = nowMs;
    rate.buckets.set(clientKey, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { limited: false };
    }
    if (!rate.retryAfter) return { limited: true };
    return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / rate.rps)) };
  }
}

function pathMatches(pattern: FaultPath, path: string): boolean {
  if (pattern === '*' || pattern === path) return true;
  return pattern.endsWith('/*') && path.startsWith(pattern.slice(0, -1));
}

/** A fault's kind as the statistics count it: "503", "429 with Retry-After", "502 text/html", "latency 800 ms". */
export function faultLabel(fault: Fault): string {
  switch (fault.kind) {
    case 'status':
      return [String(fault.status), fault.retryAfter === undefined ? '' : 'with Retry-After', fault.body === undefined ? '' : (fault.contentType ?? 'body')]
        .filter((part) => part !== '')
        .join(' ');
    case 'latency':
      return `latency ${fault.ms} ms`;
    case 'gzipBomb':
      return 'gzip bomb';
    case 'echoToken':
      return `${fault.status} echoing the token`;
    default:
      return fault.kind;
  }
}

function validate(fault: Fault): void {
  if (fault.kind === 'status' && !(Number.isInteger(fault.status) && fault.status >= 100 && fault.status <= 599)) {
    throw new RangeError(`fault status must be an HTTP status, got ${fault.status}`);
  }
  if (fault.kind === 'latency' && !(fault.ms >= 0)) throw new RangeError('fault latency must be >= 0');
  if (fault.kind === 'gzipBomb' && !(Number.isSafeInteger(fault.bytes) && fault.bytes > 0)) throw new RangeError('gzipBomb bytes must be > 0');
  if (fault.kind === 'oversize' && !(Number.isSafeInteger(fault.items) && fault.items > 0)) throw new RangeError('oversize items must be > 0');
}
