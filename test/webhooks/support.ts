// One webhook setup per test file: its own database, a simulator over real HTTP that sends
// webhooks, the production pieces (config parsing, key loading, signed API calls, the key
// cache, the receiver) pointed at both, and a subscription to the receiver, enabled.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSections, type Env } from '../../src/config/index.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import type { WebhooksApi } from '../../src/upvest/webhooks-api.js';
import { createWebhooksApiFromConfig } from '../../src/webhooks/index.js';
import { startReceiver, type Receiver, type ReceiverOptions, type ReceiverOutcome } from '../../src/webhooks/receiver.js';
import { VerifyKeyCache } from '../../src/webhooks/verify-keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

export interface WebhookSetup {
  db: TestDatabase;
  sim: Simulator;
  prisma: PrismaClient;
  env: Env;
  /** Signed calls with a webhooks:admin token. */
  admin: WebhooksApi;
  keys: VerifyKeyCache;
  receiver: Receiver;
  /** Every answer of the receiver, oldest first. */
  outcomes: ReceiverOutcome[];
  /** The receiver's clock is Date.now() plus this (seconds), for stale signatures. */
  clock: { receiverOffsetS: number; keysMs: number };
  subscriptionId: string;
  close(): Promise<void>;
}

export async function startWebhookSetup(
  label: string,
  options: {
    simulator?: SimulatorOptions;
    receiver?: Partial<ReceiverOptions>;
    config?: { delay: string; max_package_size: number };
    /** The key cache's clock; the test's `clock.keysMs` unless given (Date.now for real time). */
    keysNow?: () => number;
  } = {},
): Promise<WebhookSetup> {
  const db = await createTestDatabase(label);
  const sim = await startSimulator({ accounts: 20, webhookTimeUnitMs: 5, ...options.simulator });
  const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-webhook-key-'));
  const keyFile = join(keyDir, 'upvest.pem');
  writeFileSync(keyFile, sim.privateKeyPem ?? '', { mode: 0o600 });
  const env: Env = {
    UPVEST_BASE_URL: sim.url,
    UPVEST_CLIENT_ID: sim.clientId,
    UPVEST_CLIENT_SECRET: sim.clientSecret,
    UPVEST_SIGNING_KEY_FILE: keyFile,
    UPVEST_SIGNING_KEY_ID: sim.keyId,
    UPVEST_RETRY_MIN_DELAY_MS: '1',
    UPVEST_RETRY_MAX_DELAY_MS: '20',
    UPVEST_RETRIES: '2',
  };
  const { upvest, webhooks } = loadSections(env, ['upvest', 'webhooks']);
  const logger = silentLogger();
  const admin = createWebhooksApiFromConfig(upvest, webhooks, { logger, scopes: 'webhooks:admin' });
  const reader = createWebhooksApiFromConfig(upvest, webhooks, { logger });
  const clock = { receiverOffsetS: 0, keysMs: 1_000_000 };
  // The production policy, on a clock of the test's.
  const keys = new VerifyKeyCache({
    fetchKeys: () => reader.verifyKeys(),
    minRefetchIntervalMs: 1_000,
    maxUnknownFetchesPerMinute: 4,
    withdrawnGraceMs: 300_000,
    logger,
    now: options.keysNow ?? (() => clock.keysMs),
  });
  const prisma = createPrisma(db.url, { poolSize: 4 });
  const outcomes: ReceiverOutcome[] = [];
  const receiver = await startReceiver({
    host: '127.0.0.1',
    port: 0,
    path: '/hooks/upvest',
    maxBodyBytes: 2 * 1_048_576,
    signature: { maxAgeSeconds: 300, clockSkewSeconds: 60, enforceExpires: false },
    keys: (keyId) => keys.get(keyId),
    prisma,
    logger,
    now: () => Date.now() + clock.receiverOffsetS * 1000,
    onOutcome: (outcome) => outcomes.push(outcome),
    ...options.receiver,
  });
  const created = await admin.create({
    title: 'account-sync tests',
    url: receiver.url,
    type: ['ACCOUNT'],
    config: options.config ?? { delay: '1s', max_package_size: 1_048_576 },
  });
  await admin.update(created.id, { enabled: true });
  return {
    db,
    sim,
    prisma,
    env,
    admin,
    keys,
    receiver,
    outcomes,
    clock,
    subscriptionId: created.id,
    async close() {
      await sim.close();
      await receiver.close();
      await prisma.$disconnect();
      rmSync(keyDir, { recursive: true, force: true });
      await db.drop();
    },
  };
}

export interface EventRow {
  event_id: string | null;
  type: string | null;
  object_id: string | null;
  created_at_raw: string | null;
  deliveries: number;
  outcome: string | null;
  reason: string | null;
}

export async function storedEvents(prisma: PrismaClient): Promise<EventRow[]> {
  return prisma.$queryRaw<EventRow[]>`
    SELECT event_id::text, type, object_id, created_at_raw, deliveries, outcome, reason
    FROM webhook_events ORDER BY seq`;
}
