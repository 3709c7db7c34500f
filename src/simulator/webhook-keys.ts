// The simulator's webhook signing keys: P-521 pairs whose public halves GET /auth/verify_keys
// publishes as a JWKS, the newest one signing. Rotating adds a key and keeps the old ones
// listed, as a careful key rotation would; retiring stops listing one and forgets it;
// withdrawing stops listing one but keeps it, so that a test can sign with a key Upvest no
// longer vouches for (as someone holding a leaked key would).
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';

export interface VerifyJwk {
  kid: string;
  kty: 'EC';
  crv: 'P-521';
  x: string;
  y: string;
}

interface Pair {
  kid: string;
  privateKey: KeyObject;
  jwk: VerifyJwk;
}

function newPair(kid: string): Pair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
  const { x, y } = publicKey.export({ format: 'jwk' });
  return { kid, privateKey, jwk: { kid, kty: 'EC', crv: 'P-521', x: x!, y: y! } };
}

export class WebhookKeyring {
  private readonly pairs: Pair[];
  private readonly withdrawn: Pair[] = [];
  private strangerKey: KeyObject | undefined;

  constructor(kid: string = randomUUID()) {
    this.pairs = [newPair(kid)];
  }

  /** The key that signs deliveries now. */
  get current(): { kid: string; privateKey: KeyObject } {
    return this.pairs[this.pairs.length - 1]!;
  }

  /** A new signing key, published alongside the old ones; returns its kid. */
  rotate(kid: string = randomUUID()): string {
    this.pairs.push(newPair(kid));
    return kid;
  }

  /** Stops publishing a key (deliveries signed with it then fail verification). */
  retire(kid: string): void {
    const at = this.pairs.findIndex((p) => p.kid === kid);
    if (at >= 0 && this.pairs.length > 1) this.pairs.splice(at, 1);
  }

  /** Stops publishing a key that is not the signing one, keeping it for the 'withdrawn-key' switch. */
  withdraw(kid: string): void {
    const at = this.pairs.findIndex((p) => p.kid === kid);
    if (at < 0 || at === this.pairs.length - 1) throw new RangeError('only a listed key that no longer signs can be withdrawn');
    this.withdrawn.push(...this.pairs.splice(at, 1));
  }

  /** The key withdrawn last, if any. */
  get lastWithdrawn(): { kid: string; privateKey: KeyObject } | undefined {
    return this.withdrawn.at(-1);
  }

  jwks(): { keys: VerifyJwk[] } {
    return { keys: this.pairs.map((p) => ({ ...p.jwk })) };
  }

  /** A key that is never published, for wrong-key deliveries. */
  stranger(): KeyObject {
    this.strangerKey ??= generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey;
    return this.strangerKey;
  }
}
