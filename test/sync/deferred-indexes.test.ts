// A first sync into an empty mirror drops the analysts' secondary indexes while it loads and
// builds them again after its walk; whatever it leaves unbuilt (killed in between) the next
// run builds first. The mirror must end with exactly the indexes the migrations made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { DEFERRABLE_INDEXES, deferIndexes } from '../../src/sync/deferred-indexes.js';
import { openClient } from '../../src/db/pg-client.js';
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
async function syncNotingIndexes(h: Harness, deferFrom: number) {
  const during: Array<Promise<string[]>> = [];
  const summary = await h.sync({
    env: { SYNC_DEFER_INDEXES_FROM: String(deferFrom) },
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
