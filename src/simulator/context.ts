// Everything a request handler needs, resolved once when the simulator starts.
import type { KeyObject } from 'node:crypto';
import type { Dataset } from './dataset.js';
import type { Faults } from './faults.js';
import type { NonceCache } from './signatures.js';
import type { SimulatorStats } from './stats.js';
import type { TokenStore } from './tokens.js';
import type { SimulatorWebhooks } from './webhooks.js';

export interface SimulatorContext {
  clientId: string;
  clientSecret: string;
  keyId: string;
  key: KeyObject;
  now: () => number;
  maxLimit: number;
  signatureMaxAgeSeconds: number;
  clockSkewSeconds: number;
  dataset: Dataset;
  faults: Faults;
  stats: SimulatorStats;
  tokens: TokenStore;
  nonces: NonceCache;
  webhooks: SimulatorWebhooks;
}

/** Scopes that may list accounts. */
export const ACCOUNT_READ_SCOPES = ['accounts:read', 'accounts:admin'];
