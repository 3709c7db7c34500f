// Everything a request handler needs, resolved once when the simulator starts.
import type { KeyObject } from 'node:crypto';
import type { Dataset, SortField, SortOrder } from './dataset.js';
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
  /** Told of every page of accounts served (see Simulator.observePages). */
  pageObservers: Set<(page: ServedPage) => void>;
}

/** A page of GET /accounts as it was served, for tests that check what a client was shown. */
export interface ServedPage {
  offset: number;
  limit: number;
  sort: SortField;
  order: SortOrder;
  /** Scopes of the access token it was served to: tells apart clients that ask for their own. */
  scopes: string[];
  /** The body exactly as sent. */
  body: Buffer;
  /** Whether the whole body was handed to the connection (false: truncated, or the client went away). */
  delivered: Promise<boolean>;
}

/** Scopes that may list accounts. */
export const ACCOUNT_READ_SCOPES = ['accounts:read', 'accounts:admin'];
