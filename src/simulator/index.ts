// The Upvest simulator: a real HTTP server that behaves like the Investment API's token and
// account-listing endpoints, strictly, deterministically and fast enough for a million accounts.
import { createPublicKey, generateKeyPairSync, KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { ServedPage, SimulatorContext } from './context.js';
import { Dataset } from './dataset.js';
import { Faults } from './faults.js';
import { createSimulatorServer } from './server.js';
import { NonceCache } from './signatures.js';
import { SimulatorStats } from './stats.js';
import { TokenStore } from './tokens.js';
import { SimulatorWebhooks } from './webhooks.js';

export { Dataset } from './dataset.js';
export type { ChangeLog, DatasetOptions, RandomChangeOptions, SimAccount, SortField, SortOrder, UserRef } from './dataset.js';
export { Faults } from './faults.js';
export type { Fault, FaultPath, RandomFaults } from './faults.js';
export type { Hold, HoldOptions } from './holds.js';
export { SimulatorStats } from './stats.js';
export type { StatsEvent } from './stats.js';
export { SimulatorWebhooks } from './webhooks.js';
export type { DeliveryAttempt, WebhookEvent } from './webhooks.js';
export type { ServedPage } from './context.js';

export interface SimulatorOptions {
  /** Initial dataset size, default 1000. */
  accounts?: number;
  /** Default 1; the same seed gives the same dataset. */
  seed?: number;
  /** Accounts created in bulk: batches of 3 to 8 share one created_at (a fifth are alone). */
  bulkCreated?: boolean;
  /** Accounts shaped like a real tenant's: joint accounts, owners of several groups (see Dataset). */
  tenant?: boolean;
  /** Keep every version of every account, for tests (see Dataset.history). */
  history?: boolean;
  /** Serve ties of the sort key in a new order on every request, from this seed (see Dataset.shuffleTies). */
  shuffleTies?: number;
  host?: string;
  /** Default 0: an ephemeral port. */
  port?: number;
  clientId?: string;
  clientSecret?: string;
  keyId?: string;
  /** The tenant's public key (PEM or KeyObject). Omitted: a P-521 pair is generated. */
  publicKey?: KeyObject | string;
  /** expires_in of issued tokens, default 3600. */
  tokenTtlSeconds?: number;
  /** Largest accepted limit, default 1000. */
  maxLimit?: number;
  /** Signatures created longer ago than this are stale, default 300. */
  signatureMaxAgeSeconds?: number;
  /** Tolerated future `created`, default 5. */
  clockSkewSeconds?: number;
  /** Clock in ms for tokens, signatures and updated_at of changes; default Date.now. */
  now?: () => number;
  /** One second of webhook delays and retry waits, in ms (default 1000); tests scale it down. */
  webhookTimeUnitMs?: number;
  /** A webhook delivery without an answer within this long has failed; default 10000. */
  webhookTimeoutMs?: number;
  /** kid of the first webhook signing key; default a random UUID. */
  webhookKeyId?: string;
  /** Accept webhook subscriptions to plain http URLs on any host, not only loopback ones. */
  webhookHttpUrls?: boolean;
}

export interface Simulator {
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly keyId: string;
  /** PKCS#8 PEM of the generated private key; undefined when a public key was given. */
  readonly privateKeyPem: string | undefined;
  readonly dataset: Dataset;
  readonly faults: Faults;
  readonly stats: SimulatorStats;
  /** Subscriptions, signing keys, switches and the delivery log of the webhook sender. */
  readonly webhooks: SimulatorWebhooks;
  /** Every token issued so far answers 401 from now on. */
  expireTokens(): void;
  /** The access tokens issued so far. */
  issuedTokens(): string[];
  /** Calls `observer` with every page of accounts served, as served; returns an unsubscribe. */
  observePages(observer: (page: ServedPage) => void): () => void;
  close(): Promise<void>;
}

export const DEFAULT_CLIENT_ID = 'ebabcf4d-61c3-4942-875c-e265a7c2d062';
export const DEFAULT_CLIENT_SECRET = 'simulator-client-secret';
export const DEFAULT_KEY_ID = '5b0d7a8e-2f6c-4e1b-9a3d-c4e8f1a27b90';

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const now = options.now ?? Date.now;
  let key: KeyObject;
  let privateKeyPem: string | undefined;
  if (options.publicKey === undefined) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
    key = pair.publicKey;
    privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  } else if (options.publicKey instanceof KeyObject && options.publicKey.type === 'public') {
    key = options.publicKey;
  } else {
    // Also takes a private key (PEM or KeyObject) and derives its public half.
    key = createPublicKey(options.publicKey);
  }
  if (key.asymmetricKeyType !== 'ec' && key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`the simulator verifies ECDSA or Ed25519 keys, not ${key.asymmetricKeyType}`);
  }

  const stats = new SimulatorStats();
  const dataset = new Dataset({ accounts: options.accounts ?? 1000, seed: options.seed ?? 1, now, bulkCreated: options.bulkCreated, tenant: options.tenant, history: options.history });
  if (options.shuffleTies !== undefined) dataset.shuffleTies(options.shuffleTies);
  const webhooks = new SimulatorWebhooks({
    dataset,
    now,
    timeUnitMs: options.webhookTimeUnitMs,
    deliveryTimeoutMs: options.webhookTimeoutMs,
    keyId: options.webhookKeyId,
    allowHttpUrls: options.webhookHttpUrls,
  });
  const ctx: SimulatorContext = {
    clientId: options.clientId ?? DEFAULT_CLIENT_ID,
    clientSecret: options.clientSecret ?? DEFAULT_CLIENT_SECRET,
    keyId: options.keyId ?? DEFAULT_KEY_ID,
    key,
    now,
    maxLimit: options.maxLimit ?? 1000,
    signatureMaxAgeSeconds: options.signatureMaxAgeSeconds ?? 300,
    clockSkewSeconds: options.clockSkewSeconds ?? 5,
    dataset,
    faults: new Faults(),
    stats,
    tokens: new TokenStore(now, options.tokenTtlSeconds ?? 3600),
    nonces: new NonceCache(),
    webhooks,
    pageObservers: new Set(),
  };

  const { server, close } = createSimulatorServer(ctx);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    clientId: ctx.clientId,
    clientSecret: ctx.clientSecret,
    keyId: ctx.keyId,
    privateKeyPem,
    dataset: ctx.dataset,
    faults: ctx.faults,
    stats,
    webhooks,
    expireTokens: () => ctx.tokens.expireAll(),
    issuedTokens: () => ctx.tokens.issued(),
    observePages(observer) {
      ctx.pageObservers.add(observer);
      return () => ctx.pageObservers.delete(observer);
    },
    close,
  };
}
