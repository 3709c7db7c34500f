// A first sync into an empty mirror drops the analysts' secondary indexes while it loads and
// builds them again after its walk; whatever it leaves unbuilt (killed in between) the next
// run builds first. The mirror must end with exactly the indexes the migrations made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { DEFERRABLE_INDEXES, deferIndexes } from '../../src/sync/deferred-indexes.js';
import { openClient } from '../../src/db/pg-client.js';
import { spawnCli } from '../support/cli.js';
import { pollUntil } from '../support/daemon.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

/** Every index of the mirror's tables, with its definition. */
async function indexesOf(prisma: PrismaClient): Promise<Array<{ name: string; definition: string }>> {
  return prisma.$queryRaw`
    SELECT indexname AS name, indexdef AS definition FROM pg_indexes
    WHERE schemaname = current_schema() AND tablename IN ('accounts', 'users', 'account_users', 'account_status_changes')
    ORDER BY indexname`;
}

async function deferredRows(prisma: PrismaClient): Promise<number> {
  const [row] = await prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM sync_deferred_indexes`;
  return row!.n;
}

/** Syncs, noting the indexes present once the first page is committed. */
async function syncNotingIndexes(h: Harness, deferFrom: number, resumeRunId?: bigint) {
  const during: Array<Promise<string[]>> = [];
  const summary = await h.sync({
    env: { SYNC_DEFER_INDEXES_FROM: String(deferFrom) },
    resumeRunId,
    onProgress: () => {
      if (during.length === 0) during.push(indexesOf(h.prisma).then((list) => list.map((i) => i.name)));
    },
  });
  return { summary, during: await during[0] };
}

describe('the secondary indexes of a first sync', () => {
  let h: Harness;
  let migrated: Array<{ name: string; definition: string }>;

  beforeAll(async () => {
    h = await startHarness('deferred_indexes', { accounts: 450, seed: 11 });
    migrated = await indexesOf(h.prisma);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('are absent while it loads an empty mirror, and exactly as migrated once it is done', async () => {
    const names = migrated.map((i) => i.name);
    expect(names).toEqual(expect.arrayContaining([...DEFERRABLE_INDEXES]));
    // As many accounts as the threshold: deferred.
    const { summary, during } = await syncNotingIndexes(h, 450);
    expect(summary).toMatchObject({ status: 'succeeded', inserted: 450, accountsSeen: 450 });
    expect(during).toEqual(names.filter((n) => !(DEFERRABLE_INDEXES as readonly string[]).includes(n)));
    expect(await indexesOf(h.prisma)).toEqual(migrated);
    expect(await deferredRows(h.prisma)).toBe(0);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('are kept by a run into a mirror that holds accounts', async () => {
    h.simulator.dataset.add(20);
    const { summary, during } = await syncNotingIndexes(h, 0);
    expect(summary).toMatchObject({ status: 'succeeded', inserted: 20 });
    expect(during).toEqual(migrated.map((i) => i.name));
  });

  it('left unbuilt by a run killed while loading are built by the next run before it writes', async () => {
    // What a first sync killed while loading leaves: indexes dropped and stored, a user written.
    const k = await startHarness('deferred_indexes_killed', { accounts: 120, seed: 12 });
    try {
      const [run] = await k.prisma.$queryRaw<Array<{ id: bigint }>>`INSERT INTO sync_runs (page_size, status) VALUES (100, 'failed') RETURNING id`;
      expect(await deferIndexes(k.prisma, run!.id, silentLogger())).toBe(DEFERRABLE_INDEXES.length);
      expect(await deferredRows(k.prisma)).toBe(DEFERRABLE_INDEXES.length);
      await k.prisma.$executeRaw`INSERT INTO users (id, first_seen_at, last_seen_at) VALUES ('0c000000-0000-4000-8000-000000000001', now(), now())`;

      const { summary, during } = await syncNotingIndexes(k, 0);
      expect(summary).toMatchObject({ status: 'succeeded', inserted: 120 });
      expect(during).toEqual(migrated.map((i) => i.name));
      expect(await indexesOf(k.prisma)).toEqual(migrated);
      expect(await deferredRows(k.prisma)).toBe(0);
    } finally {
      await k.close();
    }
  });

  it('left unbuilt by `account-sync sync` SIGKILLed while loading are built by the next run before it writes', async () => {
    const k = await startHarness('deferred_indexes_sigkill', { accounts: 450, seed: 15 });
    // A gate in the test's database: the run's pages after its first wait for an advisory lock
    // the test holds, so the walk cannot end, nor the indexes be built, before the kill.
    const GATE = 240_026;
    await k.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_page_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM sync_run_pages WHERE sync_run_id = NEW.sync_run_id) THEN
          PERFORM pg_advisory_xact_lock_shared(${GATE});
        END IF;
        RETURN NEW;
      END $$`);
    await k.prisma.$executeRawUnsafe(`CREATE TRIGGER test_page_gate BEFORE INSERT ON sync_run_pages FOR EACH ROW EXECUTE FUNCTION test_page_gate()`);
    const gate = await openClient(k.db.url, 'test page gate');
    const cli = spawnCli(['sync', '--json'], { ...k.env, SYNC_DEFER_INDEXES_FROM: '450', LOG_LEVEL: 'info' });
    try {
      await gate.query(`SELECT pg_advisory_lock(${GATE})`);
      const started = await cli.waitForLog((l) => l.msg === 'sync run started', 'the run to start');
      await cli.waitForLog((l) => l.msg?.startsWith('secondary indexes dropped') ?? false, 'the indexes to be dropped');
      const backends = await pollUntil(async () => {
        const { rows } = await gate.query<{ pid: number; waiting: boolean }>(
          `SELECT a.pid, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted) AS waiting
           FROM pg_stat_activity a WHERE a.datname = current_database() AND a.application_name LIKE 'account-sync%'`,
          [GATE],
        );
        return rows.some((r) => r.waiting) ? rows.map((r) => r.pid) : undefined;
      }, 'a page waiting at the gate');
      cli.kill('SIGKILL');
      expect(await cli.exited).toEqual({ code: null, signal: 'SIGKILL' });
      await gate.query(`SELECT pg_advisory_unlock(${GATE})`);
      await pollUntil(
        async () => ((await gate.query(`SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)`, [backends])).rowCount === 0 ? true : undefined),
        "the killed run's connections to end",
      );
      await k.prisma.$executeRawUnsafe(`DROP TRIGGER test_page_gate ON sync_run_pages`);

      // What the kill left: the indexes dropped and noted, the run still `running`, one page.
      const names = migrated.map((i) => i.name);
      expect((await indexesOf(k.prisma)).map((i) => i.name)).toEqual(names.filter((n) => !(DEFERRABLE_INDEXES as readonly string[]).includes(n)));
      expect(await deferredRows(k.prisma)).toBe(DEFERRABLE_INDEXES.length);
      const [run] = await k.prisma.$queryRaw<Array<{ id: bigint; status: string }>>`SELECT id, status FROM sync_runs`;
      expect(run).toEqual({ id: BigInt(started.runId as string), status: 'running' });

      // The run resumed (as the next start does) builds them before it writes, and ends exact.
      const { summary, during } = await syncNotingIndexes(k, 450, run!.id);
      expect(summary).toMatchObject({ runId: run!.id, status: 'succeeded', accountsSeen: 450 });
      expect(during).toEqual(names);
      expect(await indexesOf(k.prisma)).toEqual(migrated);
      expect(await deferredRows(k.prisma)).toBe(0);
      expect(await mirroredAccounts(k.prisma)).toEqual(expectedMirror(k));
    } finally {
      cli.kill('SIGKILL');
      await cli.exited;
      await gate.end();
      await k.close();
    }
  });

  it('are kept by a first sync of fewer accounts than SYNC_DEFER_INDEXES_FROM', async () => {
    const s = await startHarness('deferred_indexes_small', { accounts: 450, seed: 14 });
    try {
      const { summary, during } = await syncNotingIndexes(s, 451);
      expect(summary).toMatchObject({ status: 'succeeded', inserted: 450 });
      expect(during).toEqual(migrated.map((i) => i.name));
      expect(await deferredRows(s.prisma)).toBe(0);
      expect(await mirroredAccounts(s.prisma)).toEqual(expectedMirror(s));
    } finally {
      await s.close();
    }
  });

  it('are kept when a lock on the tables is not granted in time', async () => {
    const l = await startHarness('deferred_indexes_locked', { accounts: 10, seed: 13 });
    const analyst = await openClient(l.db.url, 'analyst');
    try {
      const [run] = await l.prisma.$queryRaw<Array<{ id: bigint }>>`INSERT INTO sync_runs (page_size, status) VALUES (100, 'failed') RETURNING id`;
      // An analyst's transaction that has read the accounts holds a lock DROP INDEX must wait for.
      await analyst.query('BEGIN');
      await analyst.query('SELECT count(*) FROM accounts');
      expect(await deferIndexes(l.prisma, run!.id, silentLogger(), { lockTimeout: '50ms' })).toBe(0);
      await analyst.query('ROLLBACK');
      expect(await indexesOf(l.prisma)).toEqual(migrated);
      expect(await deferredRows(l.prisma)).toBe(0);
    } finally {
      await analyst.end();
      await l.close();
    }
  });
});
