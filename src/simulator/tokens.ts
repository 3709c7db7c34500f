// Opaque bearer tokens with a lifetime, as the OAuth client-credentials flow issues them.
import { randomBytes } from 'node:crypto';

export interface TokenGrant {
  clientId: string;
  scopes: ReadonlySet<string>;
  expiresAtMs: number;
  generation: number;
}

export type TokenCheck = { ok: true; grant: TokenGrant } | { ok: false; reason: string };

export class TokenStore {
  private readonly tokens = new Map<string, TokenGrant>();
  /** Tokens of an older generation are expired: expireAll() without touching the clock. */
  private generation = 0;

  constructor(
    private readonly now: () => number,
    private readonly ttlSeconds: number,
  ) {}

  issue(clientId: string, scopes: readonly string[]): { token: string; expiresIn: number } {
    const nowMs = this.now();
    if (this.tokens.size > 10_000) this.prune(nowMs);
    const token = randomBytes(32).toString('base64url');
    this.tokens.set(token, {
      clientId,
      scopes: new Set(scopes),
      expiresAtMs: nowMs + this.ttlSeconds * 1000,
      generation: this.generation,
    });
    return { token, expiresIn: this.ttlSeconds };
  }

  check(token: string): TokenCheck {
    const grant = this.tokens.get(token);
    if (!grant) return { ok: false, reason: 'unknown access token' };
    if (grant.generation < this.generation || grant.expiresAtMs <= this.now()) {
      return { ok: false, reason: 'access token expired' };
    }
    return { ok: true, grant };
  }

  /** Every token issued and not yet pruned, oldest first (tests look for echoes of them). */
  issued(): string[] {
    return [...this.tokens.keys()];
  }

  expireAll(): void {
    this.generation++;
  }

  private prune(nowMs: number): void {
    for (const [token, grant] of this.tokens) {
      if (grant.expiresAtMs <= nowMs) this.tokens.delete(token);
    }
  }
}
