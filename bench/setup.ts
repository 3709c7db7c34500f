// What every part of the benchmark needs: throw-away databases migrated like ours, the
// environment a user would set to point account-sync at a simulator, and the printing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escapeIdentifier } from 'pg';
import { withDatabaseName } from '../src/db/database-url.js';
import { migrate } from '../src/db/migrate.js';
import { openClient } from '../src/db/pg-client.js';
import { silentLogger } from '../src/logger.js';
import type { Simulator } from '../src/simulator/index.js';
import type { ChildRun } from './measure.js';

export interface BenchContext {
  adminUrl: string;
  pageSize: number;
  concurrency: number;
  /** NODE_OPTIONS for the children; none unless asked (`--node-options`). */
  nodeOptions: string | undefined;
  keyDir: string;
}

export function benchContext(options: Omit<BenchContext, 'keyDir'>): BenchContext & { close(): void } {
  const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-bench-'));
  return { ...options, keyDir, close: () => rmSync(keyDir, { recursive: true, force: true }) };
}

export async function dropDatabase(ctx: BenchContext, name: string): Promise<void> {
  const admin = await openClient(ctx.adminUrl, 'account-sync bench');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function freshDatabase(ctx: BenchContext, name: string): Promise<string> {
  await dropDatabase(ctx, name);
  const url = withDatabaseName(ctx.adminUrl, name);
  await migrate({ databaseUrl: url, logger: silentLogger() });
  return url;
}

/** What a user would set: settings only, no NODE_OPTIONS unless the bench was asked for some. */
export function clientEnv(ctx: BenchContext, simulator: Simulator, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  const keyFile = join(ctx.keyDir, `key-${simulator.keyId}.pem`);
  writeFileSync(keyFile, simulator.privateKeyPem ?? '', { mode: 0o600 });
  return {
    DATABASE_URL: databaseUrl,
    UPVEST_BASE_URL: simulator.url,
    UPVEST_CLIENT_ID: simulator.clientId,
    UPVEST_CLIENT_SECRET: simulator.clientSecret,
    UPVEST_SIGNING_KEY_FILE: keyFile,
    UPVEST_SIGNING_KEY_ID: simulator.keyId,
    UPVEST_RETRY_MIN_DELAY_MS: '50',
    UPVEST_RETRY_MAX_DELAY_MS: '2000',
    UPVEST_RETRIES: '30',
    SYNC_PAGE_SIZE: String(ctx.pageSize),
    SYNC_CONCURRENCY: String(ctx.concurrency),
    LOG_LEVEL: 'warn',
    ...(ctx.nodeOptions ? { NODE_OPTIONS: ctx.nodeOptions } : {}),
    ...extra,
  };
}

export function summaryOf(run: ChildRun): Record<string, unknown> {
  if (run.code !== 0) throw new Error(`sync exited ${run.code}: ${run.stdout}${run.stderr.slice(-2000)}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

export function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
