// A real sync setup for one test file: its own database, a simulator over real HTTP, and the
// production composition (config parsing, key loading, client, Prisma) pointed at both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCommandConfig, type Env } from '../../src/config/index.js';
import { createPrisma, Prisma, type PrismaClient } from '../../src/db/prisma.js';
import { silentLogger, type Logger } from '../../src/logger.js';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { runSync, type RunSummary, type SyncProgress } from '../../src/sync/run.js';
import { toMicros } from '../../src/mirror/timestamps.js';
import type { UpvestClient } from '../../src/upvest/client.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import type { RequestGate } from '../../src/upvest/retry.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface Harness {
  db: TestDatabase;
  simulator: Simulator;
  prisma: PrismaClient;
  /** The environment a user would set to point account-sync at this simulator and database. */
  env: Env;
  sync(options?: {
    env?: Env;
    onProgress?: (progress: SyncProgress) => void;
    gate?: RequestGate;
    logger?: Logger;
    signal?: AbortSignal;
    resumeRunId?: bigint;
    mode?: 'full' | 'incremental';
    /** Sees (and may wrap) the real client the run talks to the simulator through. */
    client?: (client: UpvestClient) => UpvestClient;
  }): Promise<RunSummary>;
  close(): Promise<void>;
}

export async function startHarness(
  label: string,
  simulatorOptions: SimulatorOptions = {},
  databaseOptions: { migrate?: boolean } = {},
): Promise<Harness> {
  const db = await createTestDatabase(label, databaseOptions);
  const simulator = await startSimulator(simulatorOptions);
  const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-test-key-'));
  const keyFile = join(keyDir, 'upvest.pem');
  writeFileSync(keyFile, simulator.privateKeyPem ?? '', { mode: 0o600 });
  const env: Env = {
    DATABASE_URL: db.url,
    UPVEST_BASE_URL: simulator.url,
    UPVEST_CLIENT_ID: simulator.clientId,
    UPVEST_CLIENT_SECRET: simulator.clientSecret,
    UPVEST_SIGNING_KEY_FILE: keyFile,
    UPVEST_SIGNING_KEY_ID: simulator.keyId,
    // Short waits keep retry tests fast; the behaviour under test is the same.
    UPVEST_RETRY_MIN_DELAY_MS: '1',
    UPVEST_RETRY_MAX_DELAY_MS: '20',
    UPVEST_REQUEST_TIMEOUT_MS: '5000',
    SYNC_PAGE_SIZE: '100',
    SYNC_CONCURRENCY: '3',
    LOG_LEVEL: 'silent',
  };
  const prisma = createPrisma(db.url, { poolSize: 8 });
  return {
    db,
    simulator,
    prisma,
    env,
    async sync(options = {}) {
      const config = loadCommandConfig('sync', { ...env, ...options.env });
      const logger = options.logger ?? silentLogger();
      const real = createUpvestClientFromConfig(config.upvest, { logger, gate: options.gate });
      const client = options.client ? options.client(real) : real;
      return runSync(
        { prisma, client, logger, onProgress: options.onProgress, signal: options.signal },
        {
          pageSize: config.sync.pageSize,
          concurrency: config.sync.concurrency,
          maxPages: config.sync.maxPages,
          resumeRunId: options.resumeRunId,
          mode: options.mode,
          incrementalLagMs: config.sync.incrementalLagMs,
          skipUnchangedPages: config.sync.skipUnchangedPages,
          bulkLoad: config.sync.bulkLoad,
          deferIndexesFrom: config.sync.deferIndexesFrom,
          extraLimits: config.sync.extraLimits,
        },
      );
    },
    async close() {
      await prisma.$disconnect();
      await simulator.close();
      rmSync(keyDir, { recursive: true, force: true });
      await db.drop();
    },
  };
}

/** The mirror's accounts, in the simulator's shape, timestamps at full precision in UTC. */
export async function mirroredAccounts(prisma: PrismaClient, options: { live?: boolean } = {}) {
  const rows = await prisma.$queryRaw<
    Array<{
      id: string;
      created_at: string;
      updated_at: string;
      account_group_id: string;
      type: string;
      name: string;
      status: string;
      account_number: number;
      users: Array<{ id: string; type: string }>;
    }>
  >`
    SELECT a.id::text, ${utc('a.created_at')} AS created_at, ${utc('a.updated_at')} AS updated_at,
           a.account_group_id::text, a.type, a.name, a.status, a.account_number::int AS account_number,
           coalesce((SELECT json_agg(json_build_object('id', au.user_id::text, 'type', au.type) ORDER BY au.user_id)
                     FROM account_users au WHERE au.account_id = a.id), '[]'::json) AS users
    FROM accounts a
    WHERE ${options.live ?? true} = false OR a.deleted_at IS NULL
    ORDER BY a.created_at, a.id`;
  return rows;
}

function utc(column: string) {
  // Microseconds, trailing zeros of the fraction trimmed, the way RFC 3339 writers print them.
  return Prisma.raw(
    `regexp_replace(to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '\\.?0+$', '') || 'Z'`,
  );
}

/**
 * The simulator's accounts in the form (and the order: created_at, then id) mirroredAccounts()
 * returns, for an exact comparison.
 */
export function expectedMirror(h: { simulator: Simulator }) {
  const byCreation = (a: { created_at: string; id: string }, b: { created_at: string; id: string }) => {
    const [x, y] = [toMicros(a.created_at)!, toMicros(b.created_at)!];
    return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
  return [...h.simulator.dataset.list()].sort(byCreation).map((a) => ({
    id: a.id,
    created_at: normalizeTimestamp(a.created_at),
    updated_at: normalizeTimestamp(a.updated_at),
    account_group_id: a.account_group_id,
    type: a.type,
    name: a.name,
    status: a.status,
    account_number: a.account_number,
    users: [...a.users].sort((x, y) => (x.id < y.id ? -1 : 1)).map((u) => ({ id: u.id, type: u.type })),
  }));
}

/** An RFC 3339 timestamp in the form mirroredAccounts() prints, for comparison. */
export function normalizeTimestamp(value: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.exec(value);
  if (!match) throw new Error(`not RFC 3339: ${value}`);
  const [, date, time, fraction = '', zone] = match;
  const micros = fraction ? `.${fraction.slice(1, 7).padEnd(6, '0')}`.replace(/\.?0+$/, '') : '';
  if (zone!.toUpperCase() !== 'Z') {
    const ms = Date.parse(`${date}T${time}${zone}`);
    return `${new Date(ms).toISOString().slice(0, 19)}${micros}Z`;
  }
  return `${date}T${time}${micros}Z`;
}

export async function mirrorRowCounts(prisma: PrismaClient): Promise<Record<string, number>> {
  const [row] = await prisma.$queryRaw<Array<Record<string, number>>>`
    SELECT (SELECT count(*)::int FROM accounts) AS accounts, (SELECT count(*)::int FROM users) AS users,
           (SELECT count(*)::int FROM account_users) AS account_users,
           (SELECT count(*)::int FROM account_status_changes) AS account_status_changes,
           (SELECT count(*)::int FROM rejected_records) AS rejected_records`;
  return row!;
}
