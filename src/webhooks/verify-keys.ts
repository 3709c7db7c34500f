// Upvest's webhook verification keys (GET /auth/verify_keys), cached by kid. A keyid we do not
// know makes us fetch the set again, once: concurrent requests share that fetch, and fetches
// are never closer together than a minimum interval, so forged key ids cannot make us hammer
// Upvest. Keys once seen are kept, since a retried delivery may still be signed with a key
// Upvest has since rotated out. A signature's keyid is matched to a key's kid (both UUIDs,
// compared case-insensitively); Upvest does not document that mapping. While the last fetch
// failed and the next may not start yet, a keyid we do not know is not known to be unknown:
// that is WEBHOOK_KEYS_UNAVAILABLE (answered 503, retried), not an unknown key (401).
import { createPublicKey, type KeyObject } from 'node:crypto';
import { AccountSyncError, errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VerifyKey } from '../upvest/webhooks-api.js';

export interface VerifyKeyCacheOptions {
  /** GET /auth/verify_keys. */
  fetchKeys: () => Promise<VerifyKey[]>;
  /** No fetch starts sooner than this after the previous one (the first always may). */
  minRefetchIntervalMs: number;
  logger: Logger;
  now?: () => number;
}

export class VerifyKeyCache {
  private readonly keys = new Map<string, KeyObject>();
  private inFlight: Promise<void> | undefined;
  private lastFetchAt: number | undefined;
  private lastFailure: AccountSyncError | undefined;
  private fetchCount = 0;
  private readonly now: () => number;

  constructor(private readonly options: VerifyKeyCacheOptions) {
    this.now = options.now ?? Date.now;
  }

  /** How often the key set has been fetched (successfully or not). */
  get fetches(): number {
    return this.fetchCount;
  }

  get size(): number {
    return this.keys.size;
  }

  /**
   * The key for `keyId`; an unknown one triggers at most one fetch (shared with concurrent
   * callers, and only when the last fetch is at least the minimum interval ago).
   * Throws WEBHOOK_KEYS_UNAVAILABLE when that fetch fails, or when the last one failed and the
   * next may not start yet.
   */
  async get(keyId: string): Promise<KeyObject | undefined> {
    const id = keyId.toLowerCase();
    const known = this.keys.get(id);
    if (known) return known;
    if (this.inFlight) {
      await this.inFlight;
    } else if (this.lastFetchAt === undefined || this.now() - this.lastFetchAt >= this.options.minRefetchIntervalMs) {
      await this.refresh();
    } else if (this.lastFailure) {
      throw new AccountSyncError('WEBHOOK_KEYS_UNAVAILABLE', `${this.lastFailure.message}; not fetched again yet (WEBHOOK_KEYS_MIN_REFETCH_INTERVAL_MS)`, {
        cause: this.lastFailure,
      });
    }
    return this.keys.get(id);
  }

  /** Fetches the key set now (or joins the fetch under way); keys already known are kept. */
  refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    this.lastFetchAt = this.now();
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
    let added = 0;
    for (const jwk of fetched) {
      const id = jwk.kid.toLowerCase();
      if (this.keys.has(id)) continue;
      try {
        this.keys.set(id, importVerifyKey(jwk));
        added++;
      } catch (error) {
        this.options.logger.warn({ kid: jwk.kid, err: error }, `ignoring webhook verification key ${jwk.kid}: ${errorMessageOf(error)}`);
      }
    }
    this.options.logger.info({ fetched: fetched.length, added, known: this.keys.size }, 'fetched webhook verification keys');
  }
}

/** A JWKS entry as a node:crypto public key: EC P-521 only. */
export function importVerifyKey(jwk: VerifyKey): KeyObject {
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-521') throw new Error(`unsupported key type ${jwk.kty} ${jwk.crv ?? ''}`.trim());
  return createPublicKey({ key: { kty: 'EC', crv: 'P-521', x: jwk.x, y: jwk.y }, format: 'jwk' });
}
