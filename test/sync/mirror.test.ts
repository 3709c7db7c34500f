import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedMirror, mirrorRowCounts, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';
import { openClient } from '../../src/db/pg-client.js';
import { installWriteCounter, type WriteCounter } from '../support/write-counter.js';
import type { AccountsPage, UpvestClient } from '../../src/upvest/client.js';
import type { ServedPage } from '../../src/simulator/index.js';

let h: Harness;
let writes: WriteCounter;

beforeAll(async () => {
  h = await startHarness('sync_mirror', { accounts: 3000, seed: 11 });
  writes = await installWriteCounter(h.prisma);
});
afterAll(() => h?.close());

async function statusChangesOf(runId: bigint) {
  return h.prisma.$queryRaw<Array<{ account_id: string; from_status: string | null; to_status: string }>>`
    SELECT account_id::text, from_status, to_status FROM account_status_changes
    WHERE sync_run_id = ${runId} ORDER BY account_id`;
}

/**
 * Counts the walk's pages, those recognised by their digest, and reads of a recognised page's
 * records (which decode them). The pages are the real client's, seen through a prototype.
 */
function watchingPages(counts: { pages: number; recognised: number; decoded: number }) {
  return (client: UpvestClient): UpvestClient => ({
    getAccount: (id, signal) => client.getAccount(id, signal),
    async listAccounts(query, signal, options) {
      const page = await client.listAccounts(query, signal, options);
      if (query.sort !== 'created_at') return page;
      counts.pages += 1;
      if (!page.recognised) return page;
      counts.recognised += 1;
      return Object.create(page, {
        data: {
          get() {
            counts.decoded += 1;
            return page.data;
          },
        },
      }) as AccountsPage;
    },
  });
}

/** The records of each page the unchanged re-sync was served, by offset and limit, as served. */
const servedRecords = new Map<string, string>();
const recordsOf = (page: ServedPage) => {
  const text = page.body.toString('utf8');
  return text.slice(text.indexOf('"data":'));
};
const rememberRecords = (page: ServedPage) => {
  if (page.sort === 'created_at') servedRecords.set(`${page.offset}/${page.limit}`, recordsOf(page));
};

describe('a full sync against the simulator', () => {
  it('mirrors every account exactly, field by field, microseconds included', async () => {
    const since = await writes.mark();
    // Commits held up (a lock on the pages table, taken once the run has begun its walk) while
    // twelve pages arrive: the pages that queued meanwhile are written several to a
    // transaction once the lock goes.
    const begun = h.simulator.faults.hold('/accounts');
    const running = h.sync();
    await begun.arrived();
    const blocker = await openClient(h.db.url, 'mirror test blocker');
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE sync_run_pages IN SHARE ROW EXCLUSIVE MODE');
    const twelve = h.simulator.faults.hold('/accounts', { after: 12 });
    begun.release();
    await twelve.arrived();
    await blocker.query('COMMIT');
    await blocker.end();
    twelve.release();
    const summary = await running;
    expect(summary).toMatchObject({
      status: 'succeeded',
      totalCount: 3000,
      pages: 35, // 34 pages of 100 overlapping by SYNC_PAGE_OVERLAP (10) accounts, and the catch-up pass's
      accountsSeen: 3000,
      inserted: 3000,
      updated: 0,
      unchanged: 0,
      statusChanges: 3000,
      deletions: 0,
      rejected: 0,
      walkComplete: true,
      walkConsistent: true,
      inconsistencies: [],
      error: null,
    });
    const mirror = await mirroredAccounts(h.prisma);
    expect(mirror).toEqual(expectedMirror(h));
    const [written] = await h.prisma.$queryRaw<Array<{ most: number }>>`
      SELECT max(n)::int AS most FROM (SELECT count(*) AS n FROM accounts GROUP BY xmin::text) t`;
    expect(written!.most).toBeGreaterThan(100); // more than a page (SYNC_PAGE_SIZE=100) in one transaction
    // The dataset really exercises precision, names and shared users.
    expect(mirror.some((a) => /\.\d{6}Z$/.test(a.created_at))).toBe(true);
    expect(mirror.some((a) => /[^\x00-\x7f]/.test(a.name) && /["']/.test(a.name) === false)).toBe(true);
    const [shared] = await h.prisma.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM (SELECT user_id FROM account_users GROUP BY user_id HAVING count(*) > 1) s`;
    expect(shared!.n).toBeGreaterThan(0);

    // A run that wrote this much leaves fresh planner statistics behind (autovacuum may be off).
    const analyzed = await h.prisma.$queryRaw<Array<{ relname: string }>>`
      SELECT relname::text FROM pg_stat_user_tables
      WHERE relname IN ('accounts', 'users', 'account_users', 'account_status_changes') AND last_analyze IS NOT NULL
      ORDER BY relname`;
    expect(analyzed.map((t) => t.relname)).toEqual(['account_status_changes', 'account_users', 'accounts', 'users']);

    const firstSight = await statusChangesOf(summary.runId);
    expect(firstSight).toHaveLength(3000);
    expect(firstSight.every((c) => c.from_status === null)).toBe(true);
    // The measure the next test relies on sees these writes: each row once.
    const counts = await mirrorRowCounts(h.prisma);
    expect(await writes.writtenSince(since)).toEqual({ ...counts, rejected_records: 0 });
  });

  it('writes no row when nothing changed upstream, and decodes no page', async () => {
    const before = await mirrorRowCounts(h.prisma);
    const since = await writes.mark();
    const counts = { pages: 0, recognised: 0, decoded: 0 };
    const stopWatching = h.simulator.observePages(rememberRecords);
    const summary = await h.sync({ client: watchingPages(counts) });
    stopWatching();
    // 3000 accounts in pages of 100 that overlap by ten: 34 pages, each as the first run wrote it.
    expect(counts).toEqual({ pages: 34, recognised: 34, decoded: 0 });
    expect(summary).toMatchObject({
      status: 'succeeded',
      accountsSeen: 3000,
      inserted: 0,
      updated: 0,
      unchanged: 3000,
      statusChanges: 0,
      deletions: 0,
      walkConsistent: true,
    });
    expect(await writes.writtenSince(since)).toEqual({
      accounts: 0,
      users: 0,
      account_users: 0,
      account_status_changes: 0,
      rejected_records: 0,
    });
    expect(await mirrorRowCounts(h.prisma)).toEqual(before);
  });

  it('records exactly the status changes made upstream in between, and mirrors the rest of the changes', async () => {
    const changes = h.simulator.dataset.applyRandomChanges({
      seed: 5,
      statusChanges: 37,
      renames: 12,
      additions: 9,
      removals: 4,
      userChanges: 6,
    });
    const counts = { pages: 0, recognised: 0, decoded: 0 };
    let unchangedPages = 0;
    const stopWatching = h.simulator.observePages((page) => {
      if (page.sort === 'created_at' && servedRecords.get(`${page.offset}/${page.limit}`) === recordsOf(page)) unchangedPages += 1;
    });
    const summary = await h.sync({ client: watchingPages(counts) });
    stopWatching();
    // Pages holding a change are decoded and written; exactly the others are recognised.
    expect(counts.recognised).toBe(unchangedPages);
    expect(counts.recognised).toBeLessThan(counts.pages);
    expect(counts.decoded).toBe(0);
    expect(summary).toMatchObject({
      status: 'succeeded',
      totalCount: 3005,
      accountsSeen: 3005,
      inserted: 9,
      deletions: 4,
      walkConsistent: true,
    });
    const recorded = await statusChangesOf(summary.runId);
    const removed = new Set(changes.removed);
    const expectedChanges = [
      ...changes.statusChanges.filter((c) => !removed.has(c.id)).map((c) => ({ account_id: c.id, from_status: c.from, to_status: c.to })),
      ...changes.added.map((id) => ({ account_id: id, from_status: null, to_status: h.simulator.dataset.get(id)!.status })),
    ].sort((a, b) => (a.account_id < b.account_id ? -1 : 1));
    expect(recorded).toEqual(expectedChanges);
    expect(summary.statusChanges).toBe(expectedChanges.length);
    // Over both runs, each account's history is a chain in id order: it starts from no status,
    // each change comes from the status the previous one went to, strictly later.
    const [chain] = await h.prisma.$queryRaw<Array<{ accounts: number; longer: number; broken: string[] }>>`
      SELECT count(DISTINCT account_id)::int AS accounts, count(*) FILTER (WHERE n = 2)::int AS longer,
             coalesce(array_agg(account_id::text || ' #' || n) FILTER (WHERE
               (n = 1 AND from_status IS NOT NULL) OR (n > 1 AND (from_status IS DISTINCT FROM previous_to OR changed_at <= previous_at))), '{}') AS broken
      FROM (SELECT account_id, from_status, changed_at, row_number() OVER w AS n,
                   lag(to_status) OVER w AS previous_to, lag(changed_at) OVER w AS previous_at
            FROM account_status_changes WINDOW w AS (PARTITION BY account_id ORDER BY id)) x`;
    expect(chain).toEqual({ accounts: 3009, longer: changes.statusChanges.filter((c) => !removed.has(c.id)).length, broken: [] });

    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    const gone = await h.prisma.account.findMany({ where: { deletedAt: { not: null } }, select: { id: true } });
    expect(gone.map((a) => a.id).sort()).toEqual([...changes.removed].sort());
  });

  it('clears deleted_at when a removed account comes back', async () => {
    const [back] = (await h.prisma.account.findMany({ where: { deletedAt: { not: null } }, select: { id: true } })).map((a) => a.id);
    h.simulator.dataset.restore(back!);
    const summary = await h.sync();
    expect(summary).toMatchObject({ status: 'succeeded', deletions: 0, updated: 1, walkConsistent: true });
    const account = await h.prisma.account.findUniqueOrThrow({ where: { id: back! } });
    expect(account.deletedAt).toBeNull();
    expect(account.lastSyncRunId).toBe(summary.runId);
  });

  it('stores a status it has never heard of, and counts the change', async () => {
    const id = h.simulator.dataset.list()[10]!.id;
    const from = h.simulator.dataset.get(id)!.status;
    h.simulator.dataset.setStatus(id, 'SUSPENDED');
    const summary = await h.sync();
    expect(summary).toMatchObject({ status: 'succeeded', statusChanges: 1, updated: 1 });
    expect(await statusChangesOf(summary.runId)).toEqual([{ account_id: id, from_status: from, to_status: 'SUSPENDED' }]);
    const [counted] = await h.prisma.$queryRaw<Array<{ n: number }>>`
      SELECT count(*)::int AS n FROM accounts WHERE status = 'SUSPENDED' AND deleted_at IS NULL`;
    expect(counted!.n).toBe(1);
  });

  it('keeps a bad record aside with the reason, stores the rest of its page, and still succeeds', async () => {
    const [victim, other] = h.simulator.dataset.list().slice(200, 202);
    h.simulator.dataset.corrupt(victim!.id, { name: 42, created_at: 'yesterday' });
    h.simulator.dataset.corrupt(other!.id, { users: undefined, status: null });
    h.simulator.dataset.rename(h.simulator.dataset.list()[203]!.id, 'Neighbour renamed');
    const summary = await h.sync();
    expect(summary).toMatchObject({ status: 'succeeded', rejected: 2, updated: 1, deletions: 0, walkConsistent: true });
    const rejected = await h.prisma.rejectedRecord.findMany({
      where: { syncRunId: summary.runId },
      orderBy: { accountId: 'asc' },
      select: { accountId: true, reason: true, raw: true },
    });
    const byId = new Map(rejected.map((r) => [r.accountId, r]));
    expect(byId.get(victim!.id)?.reason).toBe('created_at is not an RFC 3339 date-time; name must be string');
    expect((byId.get(victim!.id)?.raw as Record<string, unknown>).name).toBe(42);
    expect(byId.get(other!.id)?.reason).toBe('users is missing; status must be string');
    const neighbour = await h.prisma.account.findUniqueOrThrow({ where: { id: h.simulator.dataset.list()[203]!.id } });
    expect(neighbour.name).toBe('Neighbour renamed');
    // Still listed upstream, so not deleted, and its last good version is kept.
    const kept = await h.prisma.account.findUniqueOrThrow({ where: { id: victim!.id } });
    expect(kept.deletedAt).toBeNull();
    expect(kept.name).toBe(victim!.name);
    h.simulator.dataset.uncorrupt(victim!.id);
    h.simulator.dataset.uncorrupt(other!.id);
  });
});
