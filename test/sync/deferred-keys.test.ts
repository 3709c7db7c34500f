// A first sync into an empty mirror drops the foreign keys of the mirror's tables while it
// loads, adds them back NOT VALID after its walk and validates each in one pass; a run killed at
// any point (loading, building the indexes, validating the keys) leaves them to the next run,
// which puts every key back, valid, and completes the mirror exactly. The runs killed here are
// the built CLI (dist/cli.js), killed with SIGKILL at points held open by locks the test takes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from 'pg';
import { openClient } from '../../src/db/pg-client.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { pgPoolOf } from '../../src/db/prisma.js';
import { pageWritesLockCall } from '../../src/runs/sql/pages.js';
import { bulkLoadPages } from '../../src/sync/page-copy.js';
import { deferForeignKeys } from '../../src/sync/deferred-keys.js';
import type { AccountRecord } from '../../src/upvest/schema.js';
import { pageWrite } from '../support/pages.js';
import { spawnCli, type CliProcess } from '../support/cli.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

interface ForeignKey {
  name: string;
  definition: string;
  valid: boolean;
}

/** Every foreign key of the mirror's tables, with its definition and whether it is validated. */
async function foreignKeysOf(prisma: PrismaClient): Promise<ForeignKey[]> {
  return prisma.$queryRaw`
    SELECT conname AS name, pg_get_constraintdef(oid) AS definition, convalidated AS valid FROM pg_constraint
    WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
      AND conrelid::regclass::text IN ('accounts', 'users', 'account_users', 'account_status_changes')
    ORDER BY conname`;
}

async function count(prisma: PrismaClient, sql: string): Promise<number> {
  const [row] = await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT (${sql})::int AS n`);
  return row!.n;
}

/** The mirror is complete and whole: exactly upstream, every key back and valid, nothing left deferred. */
async function expectCompleteMirror(h: Harness, migratedKeys: ForeignKey[]): Promise<void> {
  expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  expect(await foreignKeysOf(h.prisma)).toEqual(migratedKeys);
  expect(await count(h.prisma, 'SELECT count(*) FROM sync_deferred_foreign_keys')).toBe(0);
  expect(await count(h.prisma, 'SELECT count(*) FROM sync_deferred_indexes')).toBe(0);
  // Every user is some account's, and every user a link names is stored.
  expect(await count(h.prisma, 'SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM account_users au WHERE au.user_id = u.id)')).toBe(0);
  expect(await count(h.prisma, 'SELECT count(DISTINCT user_id) FROM account_users')).toBe(await count(h.prisma, 'SELECT count(*) FROM users'));
}

/** Resolves once `sql` (over pg_stat_activity) finds a row: a backend of the sync reached the gate. */
async function reached(observer: Client, sql: string, what: string, cli: CliProcess): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const { rows } = await observer.query(sql);
    if (rows.length > 0) return;
    if (cli.child.exitCode !== null) throw new Error(`the sync exited (${cli.child.exitCode}) before ${what}: ${cli.stderr().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the sync never reached ${what}`);
}

const waitingFor = (query: string) => `
  SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '${query}%'`;

describe('the foreign keys of a first sync', () => {
  let migratedKeys: ForeignKey[];

  /** A fresh tenant-shaped upstream and empty mirror, and the environment of a first sync that defers. */
  async function setUp(label: string, accounts: number) {
    const h = await startHarness(label, { accounts, seed: 26, tenant: true });
    const env = { ...h.env, SYNC_DEFER_INDEXES_FROM: '0', SYNC_PAGE_SIZE: '100', SYNC_CONCURRENCY: '3', LOG_LEVEL: 'debug' };
    return { h, env };
  }

  /** The built CLI, as installed; killed runs leave what a crash leaves. */
  const sync = (env: Record<string, string>) => spawnCli(['sync', '--json'], env, { tree: process.cwd() });

  async function killAt(
    label: string,
    gate: (h: Harness, cli: CliProcess, gatekeeper: Client, observer: Client) => Promise<void>,
  ): Promise<{ committedWhenKilled: number }> {
    const { h, env } = await setUp(label, 5000);
    const gatekeeper = await openClient(h.db.url, 'gatekeeper');
    const observer = await openClient(h.db.url, 'observer');
    try {
      const first = sync(env);
      await first.waitForLog((line) => line.msg === 'foreign keys dropped until the walk is over (the mirror was empty)', 'keys dropped');
      await gate(h, first, gatekeeper, observer);
      const committedWhenKilled = await count(h.prisma, 'SELECT count(*) FROM accounts');
      first.kill('SIGKILL');
      await first.closed;
      // Dead, its connections go; the gate opens for whatever its backends were doing.
      await gatekeeper.end();
      const next = sync(env);
      expect((await next.exited).code).toBe(0);
      await next.closed;
      expect(JSON.parse(next.stdout())).toMatchObject({ status: 'succeeded' });
      await expectCompleteMirror(h, migratedKeys);
      return { committedWhenKilled };
    } finally {
      await gatekeeper.end().catch(() => undefined);
      await observer.end();
      await h.close();
    }
  }

  beforeAll(async () => {
    const m = await startHarness('deferred_keys_migrated', { accounts: 0 });
    migratedKeys = await foreignKeysOf(m.prisma);
    await m.close();
    expect(migratedKeys.map((k) => k.name)).toEqual([
      'account_status_changes_account_id_fkey',
      'account_status_changes_sync_run_id_fkey',
      'account_users_account_id_fkey',
      'account_users_user_id_fkey',
      'accounts_last_sync_run_id_fkey',
    ]);
    expect(migratedKeys.every((k) => k.valid)).toBe(true);
  });

  it('are absent while it loads an empty mirror, and all back and validated once it is done', async () => {
    const { h, env } = await setUp('deferred_keys_first', 1200);
    try {
      const during: Array<Promise<ForeignKey[]>> = [];
      const summary = await h.sync({
        // Whatever the size: the indexes stay for a mirror this small, the keys do not.
        env: { ...env, SYNC_DEFER_INDEXES_FROM: '1000000' },
        onProgress: () => {
          if (during.length === 0) during.push(foreignKeysOf(h.prisma));
        },
      });
      expect(summary).toMatchObject({ status: 'succeeded', inserted: 1200 });
      expect(await during[0]).toEqual([]);
      await expectCompleteMirror(h, migratedKeys);
    } finally {
      await h.close();
    }
  });

  it('settles the rows that fail validation: a link gets its user back, a row naming no account is kept aside', async () => {
    const { h, env } = await setUp('deferred_keys_settle', 300);
    try {
      // What a killed first sync can leave: keys dropped, a link whose user was never written
      // (killed between its batch's commit and its users), and here also a link to no account.
      const [run] = await h.prisma.$queryRaw<Array<{ id: bigint }>>`INSERT INTO sync_runs (page_size, status) VALUES (100, 'failed') RETURNING id`;
      expect(await deferForeignKeys(h.prisma, run!.id, silentLogger())).toBe(5);
      const account = expectedMirror(h)[0]!;
      await h.prisma.$executeRawUnsafe(
        `INSERT INTO accounts (id, account_group_id, type, name, status, account_number, created_at, updated_at, first_seen_at, last_seen_at, last_sync_run_id)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, now(), now(), $9)`,
        account.id, account.account_group_id, account.type, account.name, account.status, account.account_number, account.created_at, account.updated_at, run!.id,
      );
      const user = account.users[0]!.id;
      await h.prisma.$executeRawUnsafe(`INSERT INTO account_users (account_id, user_id, type) VALUES ($1::uuid, $2::uuid, 'OWNER')`, account.id, user);
      const stray = '0c000000-0000-4000-8000-000000000026';
      await h.prisma.$executeRawUnsafe(`INSERT INTO account_users (account_id, user_id, type) VALUES ($1::uuid, $1::uuid, 'OWNER')`, stray);

      const summary = await h.sync({ env });
      expect(summary).toMatchObject({ status: 'succeeded' });
      expect(await count(h.prisma, `SELECT count(*) FROM users WHERE id = '${user}'`)).toBe(1);
      const kept = await h.prisma.$queryRaw<Array<{ account_id: string; reason: string; raw: unknown }>>`
        SELECT account_id, reason, raw FROM rejected_records WHERE reason LIKE '%foreign key%' OR reason LIKE '%account_users_account_id_fkey%'`;
      expect(kept).toEqual([
        {
          account_id: stray,
          reason: 'no accounts row for account_id, found validating account_users_account_id_fkey: moved aside',
          raw: { account_id: stray, user_id: stray, type: 'OWNER', extra: null },
        },
      ]);
      await expectCompleteMirror(h, migratedKeys);
    } finally {
      await h.close();
    }
  });

  it('with the keys down, a batch writes its users only once committed: one that fails leaves none behind', async () => {
    const { h } = await setUp('deferred_keys_failed_batch', 0);
    try {
      const [run] = await h.prisma.$queryRaw<Array<{ id: bigint }>>`INSERT INTO sync_runs (page_size) VALUES (10) RETURNING id`;
      expect(await deferForeignKeys(h.prisma, run!.id, silentLogger())).toBe(5);
      const account = (n: number): AccountRecord => ({
        id: `0a000000-0000-4000-8000-00000000000${n}`,
        accountGroupId: '0b000000-0000-4000-8000-000000000001',
        type: 'TRADING',
        name: `Account ${n}`,
        status: 'ACTIVE',
        accountNumber: n,
        createdAt: '2026-01-01T00:00:00.000000Z',
        updatedAt: `2026-01-0${n}T00:00:00.000000Z`,
        users: [{ id: `0c000000-0000-4000-8000-00000000000${n}`, type: 'OWNER' }],
      });
      const page = (index: number, accounts: AccountRecord[]) =>
        pageWrite(run!.id, index, accounts, { offset: index * 10, observedAt: new Date('2026-11-30T12:00:00.000Z') });
      const pool = pgPoolOf(h.prisma)!;
      expect(await bulkLoadPages(pool, [page(0, [account(1)])], { usersApart: true })).toMatchObject({ loaded: true });
      // Account 1 again, with a second whose user no one else names: nothing of it is written.
      expect(await bulkLoadPages(pool, [page(1, [account(1), account(2)])], { usersApart: true })).toEqual({ loaded: false, sqlState: '23505' });
      const users = await h.prisma.$queryRaw<Array<{ id: string }>>`SELECT id::text FROM users ORDER BY id`;
      expect(users.map((u) => u.id)).toEqual([account(1).users[0]!.id]);
      expect(await count(h.prisma, 'SELECT count(*) FROM account_users')).toBe(1);
    } finally {
      await h.close();
    }
  });

  it('killed while loading: the next run restores the keys and completes the mirror', async () => {
    const { committedWhenKilled } = await killAt('deferred_keys_kill_load', async (h, cli, gatekeeper, observer) => {
      await cli.waitForLog((line) => line.msg === 'pages loaded by COPY', 'a batch loaded');
      // Writers take the run's page-writes lock shared: held exclusively, the next batches wait.
      const [run] = await h.prisma.$queryRaw<Array<{ id: bigint }>>`SELECT id FROM sync_runs WHERE status = 'running'`;
      await gatekeeper.query(`SELECT ${pageWritesLockCall(run!.id).replace('pg_advisory_xact_lock_shared', 'pg_advisory_lock')}`);
      await reached(observer, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'`, 'a writer held at the gate', cli);
    });
    expect(committedWhenKilled).toBeGreaterThan(0);
    expect(committedWhenKilled).toBeLessThan(5000);
  });

  it('killed while building the indexes: the next run builds them, restores the keys and completes the mirror', async () => {
    await killAt('deferred_keys_kill_build', async (_h, cli, gatekeeper, observer) => {
      // Writers' ROW EXCLUSIVE passes; CREATE INDEX's SHARE waits.
      await gatekeeper.query('BEGIN');
      await gatekeeper.query('LOCK TABLE account_status_changes IN SHARE UPDATE EXCLUSIVE MODE');
      await reached(observer, waitingFor('CREATE INDEX'), 'the index build', cli);
    });
  });

  it('killed while validating the keys: the next run validates what is left and completes the mirror', async () => {
    await killAt('deferred_keys_kill_validate', async (h, cli, gatekeeper, observer) => {
      // The user key's validation forgets its record last: held, it waits with the key added NOT VALID.
      await gatekeeper.query('BEGIN');
      await gatekeeper.query(`SELECT 1 FROM sync_deferred_foreign_keys WHERE constraint_name = 'account_users_user_id_fkey' FOR UPDATE`);
      await reached(observer, waitingFor('DELETE FROM sync_deferred_foreign_keys'), 'the validation of account_users_user_id_fkey', cli);
      const keys = await foreignKeysOf(h.prisma);
      // Those before it validated, it added NOT VALID, those after it not yet back.
      expect(keys.map((k) => [k.name, k.valid])).toEqual([
        ['account_users_account_id_fkey', true],
        ['account_users_user_id_fkey', false],
        ['accounts_last_sync_run_id_fkey', true],
      ]);
    });
  });
});
