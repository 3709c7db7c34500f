// A first sync loads its new accounts by COPY (SYNC_BULK_LOAD). It must store exactly what the
// upserts store, give a batch it cannot load to the upserts without writing any of it, and
// stop being tried once the mirror holds accounts another run wrote.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEED_CHANNEL } from '../../src/db/feed.js';
import { openClient } from '../../src/db/pg-client.js';
import { createPrisma, pgPoolOf, type PrismaClient } from '../../src/db/prisma.js';
import { createLogger } from '../../src/logger.js';
import { bulkLoadPages } from '../../src/sync/page-copy.js';
import type { AccountRecord } from '../../src/upvest/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';
import { pageWrite } from '../support/pages.js';

/** A logger at debug level whose lines the test reads. */
function recordingLogger() {
  const lines: Array<{ msg: string; sqlState?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'debug' }, stream) };
}

/** What a first sync leaves, without what depends on when it ran. */
async function mirrorOf(prisma: PrismaClient) {
  const [users] = await prisma.$queryRaw<Array<{ ids: string[] }>>`SELECT coalesce(array_agg(id::text ORDER BY id), '{}') AS ids FROM users`;
  // Each simulator stamps its accounts from its own start, so times are compared with the
  // accounts' own: each change must be at its account's updated_at.
  const history = await prisma.$queryRaw<Array<Record<string, unknown>>>`
    SELECT s.account_id::text, s.from_status, s.to_status, s.changed_at = a.updated_at AS at_update, s.source,
           s.webhook_event_id, s.sync_run_id::int
    FROM account_status_changes s JOIN accounts a ON a.id = s.account_id ORDER BY s.account_id`;
  const accounts = await prisma.$queryRaw<Array<Record<string, unknown>>>`
    SELECT id::text, deleted_at, last_sync_run_id::int, last_webhook_event_id, first_seen_at = last_seen_at AS seen_once
    FROM accounts ORDER BY id`;
  const [links] = await prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM account_users`;
  return { accounts, users: users!.ids, links: links!.n, history };
}

describe('a first sync loaded by COPY', () => {
  let copied: Harness;
  let upserted: Harness;
  let refused: Harness;

  beforeAll(async () => {
    // The same seed serves the same accounts; names with the characters COPY's text format escapes.
    copied = await startHarness('bulk_load_copy', { accounts: 1_250, seed: 5 });
    upserted = await startHarness('bulk_load_upsert', { accounts: 1_250, seed: 5 });
    refused = await startHarness('bulk_load_refused_batch', { accounts: 1_250, seed: 5 });
    for (const harness of [copied, upserted, refused]) {
      const [first, second, third] = harness.simulator.dataset.list();
      harness.simulator.dataset.rename(first!.id, 'Tab\there, new\nline, back\\slash, \\N, cr\r end');
      harness.simulator.dataset.rename(second!.id, '\\.');
      harness.simulator.dataset.setUsers(third!.id, [{ id: harness.simulator.dataset.newUserId(), type: 'CO\tOWNER\\' }]);
    }
  });
  afterAll(async () => {
    await copied?.close();
    await upserted?.close();
    await refused?.close();
  });

  it('stores the same accounts, users, links, history and counts as one written as upserts', async () => {
    const { lines, logger } = recordingLogger();
    const bulk = await copied.sync({ logger });
    const plain = await upserted.sync({ env: { SYNC_BULK_LOAD: 'false' } });

    // 1,250 accounts in pages of 100 with three fetched at once: the writers took several
    // pages at a time, and every batch was loaded by COPY.
    const loaded = lines.filter((l) => l.msg === 'pages loaded by COPY');
    expect(loaded.length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.msg === 'pages not loaded by COPY; writing them as updates')).toEqual([]);
    expect(bulk).toMatchObject({ status: 'succeeded', accountsSeen: 1_250, inserted: 1_250, statusChanges: 1_250, updated: 0, rejected: 0 });
    const timeless = { durationMs: 0, startedAt: null, finishedAt: null };
    expect({ ...bulk, ...timeless }).toEqual({ ...plain, ...timeless });

    const mirrored = await mirroredAccounts(copied.prisma);
    expect(mirrored).toEqual(expectedMirror(copied));
    expect(await mirroredAccounts(upserted.prisma)).toEqual(expectedMirror(upserted));
    const mirror = await mirrorOf(copied.prisma);
    expect(mirror).toEqual(await mirrorOf(upserted.prisma));
    expect(mirror.history).toHaveLength(1_250);
    expect(mirror.history.every((h) => h.at_update === true && h.from_status === null)).toBe(true);
    const [first, second, third] = copied.simulator.dataset.list();
    const byId = new Map(mirrored.map((a) => [a.id, a]));
    expect(byId.get(first!.id)!.name).toBe('Tab\there, new\nline, back\\slash, \\N, cr\r end');
    expect(byId.get(second!.id)!.name).toBe('\\.');
    expect(byId.get(third!.id)!.users).toEqual([{ id: third!.users[0]!.id, type: 'CO\tOWNER\\' }]);
  });

  it('gives a batch COPY could not load to the upserts, which store all of it once: nothing lost, nothing twice', async () => {
    // The run's first COPY of history rows fails, after the batch's accounts, users, links and
    // pages were written in the same transaction: a test-only statement trigger refuses it
    // (a sequence counts, outside the transaction, the COPY statements it saw; the upserts'
    // INSERT passes).
    await refused.prisma.$executeRawUnsafe(`CREATE SEQUENCE test_history_copies`);
    await refused.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_refuse_copy() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF current_query() LIKE 'COPY %' THEN
          IF nextval('test_history_copies') = 1 THEN
            RAISE EXCEPTION 'test: COPY refused' USING ERRCODE = '23514';
          END IF;
        END IF;
        RETURN NULL;
      END $$`);
    await refused.prisma.$executeRawUnsafe(
      `CREATE TRIGGER test_refuse_copy BEFORE INSERT ON account_status_changes FOR EACH STATEMENT EXECUTE FUNCTION test_refuse_copy()`,
    );
    const { lines, logger } = recordingLogger();
    const summary = await refused.sync({ logger });

    // The first batch fell back to the upserts; COPY was tried again for later ones.
    expect(lines.filter((l) => l.msg === 'pages not loaded by COPY; writing them as updates')).toEqual([
      expect.objectContaining({ offset: 0, sqlState: '23514', misses: 1 }),
    ]);
    const [copies] = await refused.prisma.$queryRaw<Array<{ n: bigint }>>`SELECT last_value AS n FROM test_history_copies`;
    expect(Number(copies!.n)).toBe(1 + lines.filter((l) => l.msg === 'pages loaded by COPY').length);
    expect(summary).toMatchObject({ status: 'succeeded', accountsSeen: 1_250, inserted: 1_250, statusChanges: 1_250, updated: 0, rejected: 0 });

    // Everything once: each account with its users and links as served, one history row each,
    // from no status, at its update; one row per page.
    const expected = expectedMirror(refused);
    expect(await mirroredAccounts(refused.prisma)).toEqual(expected);
    const mirror = await mirrorOf(refused.prisma);
    expect(mirror.history).toHaveLength(1_250);
    expect(new Set(mirror.history.map((h) => h.account_id)).size).toBe(1_250);
    expect(mirror.history.every((h) => h.at_update === true && h.from_status === null && h.sync_run_id === 1)).toBe(true);
    expect(mirror.accounts.every((a) => a.last_sync_run_id === 1 && a.seen_once === true)).toBe(true);
    expect(mirror.links).toBe(expected.reduce((n, a) => n + a.users.length, 0));
    expect(mirror.users).toEqual([...new Set(expected.flatMap((a) => a.users.map((u) => u.id)))].sort());
    const [pages] = await refused.prisma.$queryRaw<Array<{ pages: number; offsets: number }>>`
      SELECT count(*)::int AS pages, count(DISTINCT page_offset)::int AS offsets FROM sync_run_pages`;
    expect(pages!.offsets).toBe(pages!.pages);
  });

  it('is not tried by a run after the first: the mirror holds accounts an earlier run wrote', async () => {
    const [account] = copied.simulator.dataset.list();
    copied.simulator.dataset.setStatus(account!.id, 'CLOSED');
    copied.simulator.dataset.add(30);
    const { lines, logger } = recordingLogger();
    const summary = await copied.sync({ logger });
    expect(summary).toMatchObject({ status: 'succeeded', inserted: 30, updated: 1, statusChanges: 31 });
    expect(lines.filter((l) => l.msg === 'pages loaded by COPY')).toEqual([]);
    expect(await mirroredAccounts(copied.prisma)).toHaveLength(1_280);
  });
});

describe('a batch COPY cannot load', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  beforeAll(async () => {
    db = await createTestDatabase('bulk_load_refused');
    prisma = createPrisma(db.url, { poolSize: 2 });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const account = (n: number, status: string): AccountRecord => ({
    id: `0a000000-0000-4000-8000-00000000000${n}`,
    accountGroupId: '0b000000-0000-4000-8000-000000000001',
    type: 'TRADING',
    name: `Account ${n}`,
    status,
    accountNumber: n,
    createdAt: '2026-01-01T00:00:00.000000Z',
    // The higher the id, the earlier the update: the history's ids must follow the updates.
    updatedAt: `2026-01-0${9 - n}T00:00:00.000000Z`,
    users: [{ id: '0c000000-0000-4000-8000-000000000001', type: 'OWNER' }],
  });
  const page = (runId: bigint, index: number, accounts: AccountRecord[]) =>
    pageWrite(runId, index, accounts, { offset: index * 10, observedAt: new Date('2026-11-30T12:00:00.000Z') });


  it('writes none of it when one account is stored already, and says why', async () => {
    const [run] = await prisma.$queryRaw<Array<{ id: bigint }>>`INSERT INTO sync_runs (page_size) VALUES (10) RETURNING id`;
    const pool = pgPoolOf(prisma)!;
    const listener = await openClient(db.url, 'feed listener');
    const notified = new Promise<unknown>((resolve) => listener.on('notification', (n) => resolve(JSON.parse(n.payload!))));
    await listener.query(`LISTEN ${FEED_CHANNEL}`);
    expect(await bulkLoadPages(pool, [page(run!.id, 0, [account(1, 'ACTIVE'), account(2, 'ACTIVE')])])).toEqual({
      loaded: true,
      outcomes: [{ inserted: 2, updated: 0, unchanged: 0, statusChanges: 2, rejected: 0 }],
    });
    // The change feed hears of the two changes as it does from the upserts.
    expect(await notified).toEqual({ source: 'sync', sync_run_id: String(run!.id), max_id: '2', count: 2 });
    await listener.end();
    // Account 2 again, with a third: nothing of this batch may be written.
    expect(await bulkLoadPages(pool, [page(run!.id, 1, [account(2, 'CLOSED'), account(3, 'ACTIVE')])])).toEqual({ loaded: false, sqlState: '23505' });

    const counts = await prisma.$queryRaw<Array<Record<string, number>>>`
      SELECT (SELECT count(*)::int FROM accounts) AS accounts, (SELECT count(*)::int FROM users) AS users,
             (SELECT count(*)::int FROM account_users) AS links, (SELECT count(*)::int FROM account_status_changes) AS changes,
             (SELECT count(*)::int FROM sync_run_pages) AS pages,
             (SELECT count(*)::int FROM accounts WHERE status = 'CLOSED') AS closed`;
    expect(counts).toEqual([{ accounts: 2, users: 1, links: 2, changes: 2, pages: 1, closed: 0 }]);
    const history = await prisma.$queryRaw<Array<{ account_id: string }>>`SELECT account_id::text FROM account_status_changes ORDER BY id`;
    expect(history.map((h) => h.account_id)).toEqual([account(2, 'ACTIVE').id, account(1, 'ACTIVE').id]);
  });
});
