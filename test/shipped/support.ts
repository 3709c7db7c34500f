// What the shipped check's files share: the build (global-setup.ts), the programs of the
// production tree as child processes, the simulator of that same tree, and what the simulator
// serves, read over HTTP the way a client reads it, for exact comparisons with the mirror.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { loadCommandConfig, type Env } from '../../src/config/index.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import { runCli, spawnCli, type CliProcess } from '../support/cli.js';
import { mirroredAccounts, normalizeTimestamp } from '../support/harness.js';
import type { ImageConfig } from './image.js';

export interface ShippedBuild {
  /** The production tree: the image's WORKDIR. */
  tree: string;
  image: ImageConfig;
  /** The fresh clone it was built from (the build context), at `commit`. */
  context: string;
  commit: string;
  /** Holds all of it; removed after the run. */
  work: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    shipped: ShippedBuild;
  }
}

export const build = (): ShippedBuild => inject('shipped');

export const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** `account-sync <args>` of the production tree `tree` (the image's, by default), to its end. */
export const shippedRun = (args: string[], env: Env, tree = build().tree) => runCli(args, env, { tree });
export const shippedSpawn = (args: string[], env: Env, tree = build().tree) => spawnCli(args, env, { tree });

/** Resolves once the process's standard output contains `marker`; rejects if it exits first. */
export function stdoutContains(cli: CliProcess, marker: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!cli.stdout().includes(marker)) return false;
      cli.child.stdout!.off('data', onData);
      resolve(cli.stdout());
      return true;
    };
    const onData = () => setImmediate(check);
    if (check()) return;
    cli.child.stdout!.on('data', onData);
    void cli.exited.then(({ code, signal }) => {
      if (!check()) reject(new Error(`exited (${code ?? signal}) before printing "${marker}"; stderr:\n${cli.stderr().slice(-4000)}`));
    });
  });
}

export interface ShippedSimulator {
  cli: CliProcess;
  /** The UPVEST_* settings it printed. */
  env: Env;
  /** Applies one round of random changes (SIGUSR2), resolving once it is logged as made. */
  change(): Promise<void>;
  stop(): Promise<void>;
}

/** `account-sync simulator <args>` of `tree`, with its key in a directory of its own. */
export async function startShippedSimulator(args: string[], tree = build().tree): Promise<ShippedSimulator> {
  const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-shipped-keys-'));
  const cli = shippedSpawn(['simulator', '--key-dir', keyDir, ...args], { LOG_LEVEL: 'info' }, tree);
  const printed = await stdoutContains(cli, '# Upvest simulator');
  const env = Object.fromEntries([...printed.matchAll(/^export (UPVEST_[A-Z_]+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
  let rounds = 0;
  return {
    cli,
    env,
    async change() {
      const round = ++rounds;
      const made = cli.waitForLog((line) => line.msg === 'simulator changed accounts' && line.round === round, `round ${round} of changes`);
      cli.child.kill('SIGUSR2');
      await made;
    },
    async stop() {
      cli.kill('SIGTERM');
      const { code } = await cli.exited;
      rmSync(keyDir, { recursive: true, force: true });
      if (code !== 0) throw new Error(`the simulator exited with ${code}: ${cli.stderr().slice(-2000)}`);
    },
  };
}

export type MirrorAccount = {
  id: string;
  created_at: string;
  updated_at: string;
  account_group_id: string;
  type: string;
  name: string;
  status: string;
  account_number: number;
  users: Array<{ id: string; type: string }>;
};

/**
 * Every account the simulator lists now, read page by page over HTTP with the settings it
 * printed, in the form test/support/harness.ts's mirroredAccounts() reads the mirror in.
 */
export async function servedAccounts(simulatorEnv: Env): Promise<MirrorAccount[]> {
  const config = loadCommandConfig('sync --dry-run', { ...simulatorEnv, LOG_LEVEL: 'silent' });
  const client = createUpvestClientFromConfig(config.upvest, { logger: silentLogger() });
  const records: MirrorAccount[] = [];
  for (let offset = 0; ; ) {
    const page = await client.listAccounts({ offset, limit: 1000, sort: 'created_at', order: 'ASC' });
    for (const raw of page.data as Array<MirrorAccount & { users: Array<{ id: string; type: string }> }>) {
      records.push({
        id: raw.id,
        created_at: normalizeTimestamp(raw.created_at),
        updated_at: normalizeTimestamp(raw.updated_at),
        account_group_id: raw.account_group_id,
        type: raw.type,
        name: raw.name,
        status: raw.status,
        account_number: raw.account_number,
        users: [...raw.users].sort((a, b) => (a.id < b.id ? -1 : 1)).map((u) => ({ id: u.id, type: u.type })),
      });
    }
    offset += page.data.length;
    if (page.data.length === 0 || offset >= page.meta.total_count) break;
  }
  return records.sort(byId);
}

export const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The mirror's live accounts (deleted ones too with `live: false`), by id. */
export async function mirrorById(prisma: PrismaClient, options: { live?: boolean } = {}): Promise<MirrorAccount[]> {
  return (await mirroredAccounts(prisma, options)).sort(byId);
}

/**
 * Every row of every table of the mirror's schema but the migration history, as JSON text in
 * a stable order: what an upgrade must keep, and what a refused run must not touch.
 */
export async function tableSnapshot(prisma: PrismaClient): Promise<Record<string, Array<Record<string, unknown>>>> {
  const tables = await prisma.$queryRaw<Array<{ name: string }>>`
    SELECT table_name AS name FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_prisma_migrations' ORDER BY 1`;
  const snapshot: Record<string, Array<Record<string, unknown>>> = {};
  for (const { name } of tables) {
    const rows = await prisma.$queryRawUnsafe<Array<{ row: Record<string, unknown> }>>(
      `SELECT to_jsonb(t) AS row FROM "${name}" t ORDER BY to_jsonb(t)::text`,
    );
    snapshot[name] = rows.map((r) => r.row);
  }
  return snapshot;
}
