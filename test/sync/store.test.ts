import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { keptAsideJson } from '../../src/runs/kept-aside.js';
import { recordRecognisedPages as recordPagesIfFingerprinted } from '../../src/runs/lifecycle.js';
import { knownPages } from '../../src/runs/sql/fingerprints.js';
import { writePage, writePages, type AccountRecord, type PageWrite } from '../../src/sync/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pageWrite } from '../support/pages.js';
import { installWriteCounter, type WriteCounter } from '../support/write-counter.js';

let db: TestDatabase;
let prisma: PrismaClient;
let runId: bigint;
let writes: WriteCounter;

beforeAll(async () => {
  db = await createTestDatabase('sync_store');
  prisma = createPrisma(db.url);
  runId = (await prisma.syncRun.create({ data: { pageSize: 10 } })).id;
  writes = await installWriteCounter(prisma);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const account = (n: number, overrides: Partial<AccountRecord> = {}): AccountRecord => ({
  id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  accountGroupId: '10000000-0000-4000-8000-000000000001',
  type: 'TRADING',
  name: `Account ${n}`,
  status: 'ACTIVE',
  accountNumber: n,
  createdAt: `2024-01-01T00:00:${String(n).padStart(2, '0')}.123456Z`,
  updatedAt: `2024-02-01T00:00:${String(n).padStart(2, '0')}.654321Z`,
  users: [{ id: '20000000-0000-4000-8000-000000000001', type: 'OWNER' }],
  ...overrides,
});

let pageIndex = 0;
function page(accounts: AccountRecord[]): PageWrite {
  return pageWrite(runId, pageIndex++, accounts, { offset: 0, observedAt: new Date('2026-11-27T10:00:00Z') });
}

describe('writing a page', () => {
  it('inserts accounts, users, links and first-sight status changes, keeping microseconds', async () => {
    const since = await writes.mark();
    const outcome = await writePage(prisma, page([account(1), account(2), account(3)]));
    expect(outcome).toEqual({ inserted: 3, updated: 0, unchanged: 0, statusChanges: 3, rejected: 0 });
    // The measure the next test relies on sees these writes.
    expect(await writes.writtenSince(since)).toEqual({
      accounts: 3,
      users: 1,
      account_users: 3,
      account_status_changes: 3,
      rejected_records: 0,
    });
    const [row] = await prisma.$queryRaw<Array<{ created: string; updated: string }>>`
      SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS created,
             to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS updated
      FROM accounts WHERE id = ${account(1).id}::uuid`;
    expect(row).toEqual({ created: '2024-01-01 00:00:01.123456', updated: '2024-02-01 00:00:01.654321' });
    expect(await prisma.user.count()).toBe(1);
    expect(await prisma.accountUser.count()).toBe(3);
  });

  it('changes nothing when the same page is written again', async () => {
    const since = await writes.mark();
    const outcome = await writePage(prisma, page([account(1), account(2), account(3)]));
    expect(outcome).toEqual({ inserted: 0, updated: 0, unchanged: 3, statusChanges: 0, rejected: 0 });
    expect(await writes.writtenSince(since)).toEqual({
      accounts: 0,
      users: 0,
      account_users: 0,
      account_status_changes: 0,
      rejected_records: 0,
    });
  });

  it('records a status change together with the new status, and replaces the list of users', async () => {
    const newer = '2024-03-01T00:00:00.000001Z';
    const outcome = await writePage(
      prisma,
      page([
        account(1, { status: 'LOCKED', updatedAt: newer }),
        account(2, { users: [{ id: '20000000-0000-4000-8000-000000000002', type: 'OWNER' }] }),
        account(3),
      ]),
    );
    expect(outcome).toEqual({ inserted: 0, updated: 2, unchanged: 1, statusChanges: 1, rejected: 0 });
    const changes = await prisma.accountStatusChange.findMany({
      where: { accountId: account(1).id },
      orderBy: { id: 'asc' },
      select: { fromStatus: true, toStatus: true },
    });
    expect(changes).toEqual([
      { fromStatus: null, toStatus: 'ACTIVE' },
      { fromStatus: 'ACTIVE', toStatus: 'LOCKED' },
    ]);
    const links = await prisma.accountUser.findMany({ where: { accountId: account(2).id }, select: { userId: true } });
    expect(links).toEqual([{ userId: '20000000-0000-4000-8000-000000000002' }]);
  });

  it('never lets an older version overwrite a newer one', async () => {
    const outcome = await writePage(prisma, page([account(1, { status: 'ACTIVE' })]));
    expect(outcome).toMatchObject({ updated: 0, unchanged: 1, statusChanges: 0 });
    expect((await prisma.account.findUniqueOrThrow({ where: { id: account(1).id } })).status).toBe('LOCKED');
  });

  it('writes an id listed twice on one page once, in its newest version', async () => {
    const outcome = await writePage(
      prisma,
      page([account(4), account(4, { name: 'Renamed', updatedAt: '2024-05-01T00:00:00Z' })]),
    );
    expect(outcome).toMatchObject({ inserted: 1, statusChanges: 1 });
    expect((await prisma.account.findUniqueOrThrow({ where: { id: account(4).id } })).name).toBe('Renamed');
  });

  it('keeps rejected records aside as served, storing what jsonb cannot hold as escape text', async () => {
    const raw = { id: 'not-a-uuid', name: 'a\u0000b\ud800', nested: { quote: '"', backslash: '\\u0000', astral: '😀' } };
    const kept = keptAsideJson(raw);
    await writePage(prisma, {
      ...page([]),
      rejected: [{ accountId: null, rawJson: kept.json, rawTruncated: kept.truncated, reason: 'id is not a UUID' }],
    });
    const [row] = await prisma.rejectedRecord.findMany({ select: { raw: true, rawTruncated: true, reason: true, accountId: true } });
    expect(row).toEqual({
      raw: { id: 'not-a-uuid', name: 'a\\u0000b\\ud800', nested: { quote: '"', backslash: '\\u0000', astral: '😀' } },
      rawTruncated: false,
      reason: 'id is not a UUID',
      accountId: null,
    });
    await prisma.rejectedRecord.deleteMany();
  });

  it('finds the records PostgreSQL refuses by splitting the page, keeps them aside with its message, and stores the rest', async () => {
    // Validation keeps such records out; this is the defence behind it.
    const accounts = Array.from({ length: 10 }, (_, i) => account(40 + i));
    // Incompressible and too large for the status index.
    accounts[3] = account(43, { status: randomBytes(4000).toString('base64') });
    accounts[7] = account(47, { name: 'nul \u0000 inside' }); // text cannot hold NUL
    const outcome = await writePage(prisma, page(accounts));
    expect(outcome).toEqual({ inserted: 8, updated: 0, unchanged: 0, statusChanges: 8, rejected: 2 });
    const stored = await prisma.account.findMany({
      where: { id: { in: accounts.map((a) => a.id) } },
      select: { id: true },
      orderBy: { id: 'asc' },
    });
    expect(stored.map((a) => a.id)).toEqual(accounts.filter((_, i) => i !== 3 && i !== 7).map((a) => a.id));
    const refused = await prisma.rejectedRecord.findMany({
      select: { accountId: true, reason: true, rawTruncated: true },
      orderBy: { accountId: 'asc' },
    });
    expect(refused.map((r) => r.accountId)).toEqual([account(43).id, account(47).id]);
    expect(refused[0]!.reason).toMatch(/^PostgreSQL refused it \(SQLSTATE 54000\): .*index row size/);
    expect(refused[1]!.reason).toBe('PostgreSQL refused it (SQLSTATE 22P05): unsupported Unicode escape sequence');
    // Both are still listed by the page: neither would be taken for deleted.
    const recorded = await prisma.syncRunPage.findFirstOrThrow({ where: { syncRunId: runId }, orderBy: { pageIndex: 'desc' } });
    expect(recorded).toMatchObject({ itemCount: 10, rejected: 2, inserted: 8, accountIds: accounts.map((a) => a.id) });
    await prisma.rejectedRecord.deleteMany();
  });
});

describe('writing several pages in one transaction', () => {
  it('commits them together, each with its own outcome, the account two pages share counted for the first', async () => {
    const first = [account(30), account(31), account(32)];
    const second = [account(32), account(33)]; // pages overlap by one account
    const writes = [
      { ...page(first), offset: 100 },
      { ...page(second), offset: 102 },
    ];
    expect(await writePages(prisma, writes)).toEqual([
      { inserted: 3, updated: 0, unchanged: 0, statusChanges: 3, rejected: 0 },
      { inserted: 1, updated: 0, unchanged: 1, statusChanges: 1, rejected: 0 },
    ]);
    const rows = await prisma.$queryRaw<Array<{ transactions: number; accounts: number }>>`
      SELECT count(DISTINCT xmin::text)::int AS transactions, count(*)::int AS accounts
      FROM accounts WHERE id = ANY(${[...first, ...second].map((a) => a.id)}::uuid[])`;
    expect(rows).toEqual([{ transactions: 1, accounts: 4 }]);
    const recorded = await prisma.syncRunPage.findMany({
      where: { syncRunId: runId, pageIndex: { in: writes.map((w) => w.pageIndex) } },
      select: { pageOffset: true, inserted: true, unchanged: true, accountIds: true },
      orderBy: { pageIndex: 'asc' },
    });
    expect(recorded).toEqual([
      { pageOffset: 100, inserted: 3, unchanged: 0, accountIds: first.map((a) => a.id) },
      { pageOffset: 102, inserted: 1, unchanged: 1, accountIds: second.map((a) => a.id) },
    ]);
  });
});

describe('pages served exactly as a full run last wrote them', () => {
  const fingerprint = { limit: 1000, digest: 'digest-of-page-at-offset-5000' };
  // Its keys as a walk stores them: a fingerprint without keys recognises nothing.
  const fingerprinted = (accounts: AccountRecord[]): PageWrite => ({
    ...page(accounts),
    offset: 5000,
    fingerprint,
    keys: { firstKey: accounts[0]!.createdAt, lastKey: accounts.at(-1)!.createdAt, headTies: 1, tailTies: 1 },
  });

  it('are recorded as seen with one statement, without looking at their accounts again', async () => {
    const accounts = [account(21), account(22)];
    expect(await writePage(prisma, fingerprinted(accounts))).toMatchObject({ inserted: 2 });
    // Change the mirror behind the sync's back: a page recorded as unchanged does not even read it.
    await prisma.account.update({ where: { id: account(21).id }, data: { name: 'changed by hand' } });
    const unchangedPage = (p: PageWrite, print = fingerprint) => ({
      fingerprint: print,
      runId: p.runId,
      index: p.pageIndex,
      offset: p.offset,
      itemCount: p.itemCount,
      totalCount: p.totalCount,
      firstId: p.firstId,
      lastId: p.lastId,
      listed: { ids: p.listedIds, distinct: 2 },
      retries: p.retries,
      endsList: false,
    });
    const again = fingerprinted(accounts);
    expect(await recordPagesIfFingerprinted(prisma, [unchangedPage(again)])).toEqual(new Set([again.pageIndex]));
    expect((await prisma.account.findUniqueOrThrow({ where: { id: account(21).id } })).name).toBe('changed by hand');
    const recorded = await prisma.syncRunPage.findUniqueOrThrow({
      where: { syncRunId_pageIndex: { syncRunId: runId, pageIndex: again.pageIndex } },
    });
    expect(recorded).toMatchObject({ pageOffset: 5000, unchanged: 2, inserted: 0, updated: 0, accountIds: [account(21).id, account(22).id] });
    // A page recognised before its records were decoded lists what the fingerprint kept.
    await prisma.syncRunPage.delete({ where: { syncRunId_pageIndex: { syncRunId: runId, pageIndex: again.pageIndex } } });
    expect(await recordPagesIfFingerprinted(prisma, [{ ...unchangedPage(again), listed: null }])).toEqual(new Set([again.pageIndex]));
    expect(
      await prisma.syncRunPage.findUniqueOrThrow({ where: { syncRunId_pageIndex: { syncRunId: runId, pageIndex: again.pageIndex } } }),
    ).toMatchObject({ pageOffset: 5000, itemCount: 2, unchanged: 2, inserted: 0, accountIds: [account(21).id, account(22).id] });
    // Another position, or other records, is not the page that was written.
    expect(await recordPagesIfFingerprinted(prisma, [{ ...unchangedPage(fingerprinted(accounts)), offset: 4999 }])).toEqual(new Set());
    expect(await recordPagesIfFingerprinted(prisma, [unchangedPage(fingerprinted(accounts), { ...fingerprint, digest: 'other records' })])).toEqual(
      new Set(),
    );
    // A fingerprint an earlier release stored (no keys), or rewrote (keys taken with another one),
    // proves nothing by key: not recognised.
    await prisma.syncRunPage.delete({ where: { syncRunId_pageIndex: { syncRunId: runId, pageIndex: again.pageIndex } } });
    await prisma.$executeRaw`UPDATE sync_page_fingerprints SET keys_for = 'another page'`;
    expect(await recordPagesIfFingerprinted(prisma, [unchangedPage(again)])).toEqual(new Set());
    expect(await knownPages(prisma, fingerprint.limit, 10)).toEqual(new Map());
    await prisma.$executeRaw`UPDATE sync_page_fingerprints SET keys_for = NULL`;
    expect(await recordPagesIfFingerprinted(prisma, [unchangedPage(again)])).toEqual(new Set());
  });

  it('are written in full when the page differs, and the new fingerprint is kept', async () => {
    const accounts = [account(21), account(22)];
    expect(await writePage(prisma, { ...fingerprinted(accounts), fingerprint: { ...fingerprint, digest: 'another' } })).toMatchObject({
      updated: 1,
    });
    expect((await prisma.account.findUniqueOrThrow({ where: { id: account(21).id } })).name).toBe('Account 21');
    const stored = await prisma.syncPageFingerprint.findUniqueOrThrow({
      where: { pageOffset_pageLimit: { pageOffset: 5000, pageLimit: 1000 } },
    });
    expect(stored).toMatchObject({
      fingerprint: 'another',
      itemCount: 2,
      firstId: account(21).id,
      lastId: account(22).id,
      accountIds: [account(21).id, account(22).id],
    });
  });

  it('leave no fingerprint when they hold a rejected record, so that every run keeps it aside', async () => {
    const withReject = (): PageWrite => ({
      ...fingerprinted([account(21), account(22)]),
      fingerprint: { ...fingerprint, digest: 'another' },
      rejected: [{ accountId: null, rawJson: '{"id":1}', rawTruncated: false, reason: 'id must be string' }],
    });
    await prisma.syncPageFingerprint.deleteMany();
    expect(await writePage(prisma, withReject())).toMatchObject({ rejected: 1 });
    expect(await prisma.syncPageFingerprint.count()).toBe(0);
  });
});
