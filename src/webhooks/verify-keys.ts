// Upvest's webhook verification keys (GET /auth/verify_keys), cached by kid.
//
// A rotation must cost seconds: Upvest holds back every later delivery while one is refused,
// and retries it after 1, 2, 3, 5 ... s. So a keyid we do not know makes us fetch the set again
// when the last fetch started at least `minRefetchIntervalMs` ago (1 s by default), and the
// first delivery signed with a key Upvest has just published is accepted on its first attempt,
// or on its retry a second later. Forged key ids cannot make us hammer Upvest: concurrent
// lookups share one fetch, and fetches started for unknown key ids are held to a budget per
// rolling minute (`maxUnknownFetchesPerMinute`); past it an unknown key id is refused without a
// fetch until the minute has moved on (or the background refresh has run).
//
// A key stays trusted while Upvest lists it, and for `withdrawnGraceMs` after the first
// successful fetch that no longer listed it (a retry signed before a rotation may still come);
// after that it is withdrawn. A failed fetch changes nothing: while Upvest cannot be reached,
// the keys we have are kept. While the last fetch failed and the next may not start yet, a
// keyid we do not know is not known to be unknown: that is WEBHOOK_KEYS_UNAVAILABLE (answered
// 503, retried), not an unknown key (401). A signature's keyid is matched to a key's kid (both
// UUIDs, compared case-insensitively); Upvest does not document that mapping.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AccountSyncError, errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VerifyKey } from '../upvest/webhooks-api.js';

export interface VerifyKeyCacheOptions {
  /** GET /auth/verify_keys. */
  fetchKeys: () => Promise<VerifyKey[]>;
  /** An unknown key id starts a fetch only when the last one started at least this long ago. */
  minRefetchIntervalMs: number;
  /** At most this many fetches started by unknown key ids in any minute. */
  maxUnknownFetchesPerMinute: number;
  /** A key Upvest no longer lists is trusted this much longer (from the first fetch without it). */
  withdrawnGraceMs: number;
  logger: Logger;
  now?: () => number;
}

/** What a key id stands for: its key, a key Upvest withdrew, or nothing we know. */
export type KeyVerdict = { key: KeyObject } | { withdrawn: true } | undefined;

interface Known {
  key: KeyObject;
  /** The first successful fetch that did not list it; undefined while it is listed. */
  missingSince: number | undefined;
}

const MINUTE_MS = 60_000;

export class VerifyKeyCache {
  private readonly keys = new Map<string, Known>();
  private inFlight: Promise<void> | undefined;
  private lastFetchAt: number | undefined;
  private lastFailure: AccountSyncError | undefined;
  /** When the fetches started for unknown key ids within the last minute began. */
  private unknownFetches: number[] = [];
  private fetchCount = 0;
  private readonly now: () => number;

  constructor(private readonly options: VerifyKeyCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** How often the key set has been fetched (successfully or not). */
  get fetches(): number {
    return this.fetchCount;
  }

  /** Keys trusted now. */
  get size(): number {
    let n = 0;
    for (const known of this.keys.values()) if (this.trusted(known)) n++;
    return n;
  }

  /**
   * The key for `keyId`. One we do not trust (unknown, or withdrawn) starts a fetch when the
   * interval and the budget allow it (or joins the fetch under way), and is looked up again.
   * Throws WEBHOOK_KEYS_UNAVAILABLE when that fetch fails, or when the last one failed and the
   * next may not start yet.
   */
  async get(keyId: string): Promise<KeyVerdict> {
    const id = keyId.toLowerCase();
    const known = this.keys.get(id);
    if (known && this.trusted(known)) return { key: known.key };
    if (this.inFlight) {
      await this.inFlight;
    } else if (this.mayFetchFor()) {
      this.unknownFetches.push(this.now());
      await this.refresh();
    } else if (this.lastFailure) {
      throw new AccountSyncError('WEBHOOK_KEYS_UNAVAILABLE', `${this.lastFailure.message}; not fetched again yet`, { cause: this.lastFailure });
    }
    const after = this.keys.get(id);
    if (after === undefined) return undefined;
    return this.trusted(after) ? { key: after.key } : { withdrawn: true };
  }

  /** Fetches the key set now (or joins the fetch under way). */
  refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Fetches the set every `everyMs` in the background, so that a withdrawn key is noticed; returns a stop. */
  refreshEvery(everyMs: number): () => void {
    const timer = setInterval(() => {
      this.refresh().catch((error: unknown) => this.options.logger.warn(`webhook verification keys not refreshed: ${errorMessageOf(error)}`));
    }, everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private trusted(known: Known): boolean {
    return known.missingSince === undefined || this.now() - known.missingSince < this.options.withdrawnGraceMs;
  }

  private mayFetchFor(): boolean {
    const now = this.now();
    if (this.lastFetchAt !== undefined && now - this.lastFetchAt < this.options.minRefetchIntervalMs) return false;
    this.unknownFetches = this.unknownFetches.filter((at) => now - at < MINUTE_MS);
    return this.unknownFetches.length < this.options.maxUnknownFetchesPerMinute;
  }

  private async load(): Promise<void> {
    const startedAt = this.now();
    this.lastFetchAt = startedAt;
    this.fetchCount++;
    let fetched: VerifyKey[];
    try {
      fetched = await this.options.fetchKeys();
    } catch (error) {
      this.lastFailure = new AccountSyncError('WEBHOOK_KEYS_UNAVAILABLE', `cannot fetch Upvest's webhook verification keys: ${errorMessageOf(error)}`, {
        cause: error,
      });
      throw this.lastFailure;
    }
    this.lastFailure = undefined;
    const listed = new Set<string>();
    let added = 0;
    for (const jwk of fetched) {
      const id = jwk.kid.toLowerCase();
      listed.add(id);
      const known = this.keys.get(id);
      if (known) {
        known.missingSince = undefined;
        continue;
      }
      try {
        this.keys.set(id, { key: importVerifyKey(jwk), missingSince: undefined });
        added++;
      } catch (error) {
        this.options.logger.warn({ kid: jwk.kid, err: error }, `ignoring webhook verification key ${jwk.kid}: ${errorMessageOf(error)}`);
      }
    }
    const missing: string[] = [];
    for (const [id, known] of this.keys) {
      if (listed.has(id) || known.missingSince !== undefined) continue;
      known.missingSince = startedAt;
      missing.push(id);
    }
    if (missing.length > 0) {
      this.options.logger.warn({ kids: missing, graceMs: this.options.withdrawnGraceMs }, `webhook verification keys no longer listed by Upvest, trusted ${this.options.withdrawnGraceMs} ms more: ${missing.join(', ')}`);
    }
    if (added > 0 || missing.length > 0 || this.fetchCount === 1) {
      this.options.logger.info({ fetched: fetched.length, added, known: this.size }, 'fetched webhook verification keys');
    }
  }
}

/** A JWKS entry as a node:crypto public key: EC P-521 only. */
export function importVerifyKey(jwk: VerifyKey): KeyObject {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-521') throw new Error(`unsupported key type ${jwk.kty} ${jwk.crv ?? ''}`.trim());
  return createPublicKey({ key: { kty: 'EC', crv: 'P-521', x: jwk.x, y: jwk.y }, format: 'jwk' });
}
