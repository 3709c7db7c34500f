// Properties of writing pages, through the real validation, store and PostgreSQL: pages of
// arbitrary records, valid and invalid, with ids repeating within and across pages.
//   - no page fails;
//   - every invalid record (as the generator made it) is kept aside, with a reason;
//   - every account is stored exactly as served in its newest version (the newest by what
//     PostgreSQL stores, `served::timestamptz`; of equals, the last served), users included;
//   - writing the same pages again, as the next run would, writes no row of the mirror
//     (counted by statement triggers) and keeps the invalid records aside again.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { checkPage } from '../../src/sync/page-check.js';
import { writePage } from '../../src/sync/store.js';
import { pagesOfRecords, type ServedRecord } from '../support/arbitraries.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { installWriteCounter, type WriteCounter } from '../support/write-counter.js';
import { assertAsyncProperty } from '../support/property.js';

let db: TestDatabase;
let prisma: PrismaClient;
let writes: WriteCounter;

beforeAll(async () => {
  db = await createTestDatabase('store_properties');
  prisma = createPrisma(db.url, { poolSize: 4 });
  writes = await installWriteCounter(prisma);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

/** Writes every page as the sync does (validated, then one transaction each) under a new run. */
async function writeAll(pages: ServedRecord[][]): Promise<bigint> {
  const runId = (await prisma.syncRun.create({ data: { pageSize: 10 } })).id;
  for (const [index, records] of pages.entries()) {
    const checked = checkPage(records.map((r) => r.raw));
    await writePage(prisma, {
      runId,
      pageIndex: index,
      offset: index * 10,
      totalCount: 100,
      itemCount: records.length,
      firstId: null,
      lastId: null,
      ...checked,
      retries: 0,
      observedAt: new Date(),
    });
  }
  return runId;
}

interface Expected {
  id: string;
  record: Record<string, unknown>;
}

/** Per id, the version that must be stored: the newest as PostgreSQL orders them, the last of equals. */
async function expectedVersions(pages: ServedRecord[][]): Promise<Expected[]> {
  const valid = pages.flat().filter((r) => r.invalid === undefined).map((r) => r.raw as Record<string, unknown>);
  if (valid.length === 0) return [];
  const order = valid.map((r, seq) => ({ seq, id: String(r.id), updated_at: String(r.updated_at) }));
  const winners = await prisma.$queryRaw<Array<{ seq: number }>>`
    SELECT DISTINCT ON (id::uuid) seq FROM json_to_recordset(${JSON.stringify(order)}::json) AS v(seq int, id text, updated_at text)
    ORDER BY id::uuid, updated_at::timestamptz DESC, seq DESC`;
  return winners.map(({ seq }) => ({ id: String(valid[seq]!.id).toLowerCase(), record: valid[seq]! }));
}

/** The rows of these accounts that differ from the expected versions (empty when all match). */
async function storedDifferences(expected: Expected[]) {
  const wanted = expected.map(({ id, record }) => ({
    id,
    account_group_id: record.account_group_id,
    type: record.type,
    name: record.name,
    status: record.status,
    account_number: record.account_number,
    created_at: record.created_at,
    updated_at: record.updated_at,
    // One link per user: a repeated user keeps its last type.
    users: [...new Map((record.users as Array<{ id: string; type: string }>).map((u) => [u.id.toLowerCase(), u.type]))].map(([id, type]) => ({ id, type })),
  }));
  return prisma.$queryRaw<Array<{ id: string; problem: string }>>`
    WITH want AS (
      SELECT * FROM json_to_recordset(${JSON.stringify(wanted)}::json)
        AS w(id uuid, account_group_id uuid, type text, name text, status text, account_number bigint,
             created_at text, updated_at text, users json)
    )
    SELECT w.id::text,
           CASE WHEN a.id IS NULL THEN 'missing'
                WHEN a.deleted_at IS NOT NULL THEN 'deleted'
                WHEN (a.account_group_id, a.type, a.name, a.status, a.account_number)
                     IS DISTINCT FROM (w.account_group_id, w.type, w.name, w.status, w.account_number) THEN 'fields differ'
                WHEN a.created_at IS DISTINCT FROM w.created_at::timestamptz THEN 'created_at differs'
                WHEN a.updated_at IS DISTINCT FROM w.updated_at::timestamptz THEN 'updated_at differs'
                ELSE 'users differ' END AS problem
    FROM want w LEFT JOIN accounts a ON a.id = w.id
    WHERE a.id IS NULL OR a.deleted_at IS NOT NULL
       OR (a.account_group_id, a.type, a.name, a.status, a.account_number)
          IS DISTINCT FROM (w.account_group_id, w.type, w.name, w.status, w.account_number)
       OR a.created_at IS DISTINCT FROM w.created_at::timestamptz
       OR a.updated_at IS DISTINCT FROM w.updated_at::timestamptz
       OR (SELECT coalesce(array_agg(au.user_id::text || ' ' || au.type ORDER BY au.user_id::text, au.type), '{}')
           FROM account_users au WHERE au.account_id = a.id)
          IS DISTINCT FROM
          (SELECT coalesce(array_agg(lower(u.id) || ' ' || u.type ORDER BY lower(u.id), u.type), '{}')
           FROM json_to_recordset(w.users) AS u(id text, type text))`;
}

async function rejectedOf(runId: bigint) {
  return prisma.$queryRaw<Array<{ reason: string }>>`SELECT reason FROM rejected_records WHERE sync_run_id = ${runId} ORDER BY id`;
}

describe('writing pages of arbitrary records', () => {
  // 150 cases of pages written twice take about 20 s alone; shrinking a failure, and a loaded
  // machine, take more.
  it('stores every valid record as served, keeps every invalid one aside with a reason, and writes nothing the second time', async () => {
    const seen = { invalid: 0, repeated: 0 };
    const seed = await assertAsyncProperty(
      fc.asyncProperty(pagesOfRecords(), async (pages) => {
        const invalid = pages.flat().filter((r) => r.invalid !== undefined).length;
        seen.invalid += invalid;
        seen.repeated += pages.flat().length - new Set(pages.flat().map((r) => String((r.raw as { id?: unknown } | null)?.id).toLowerCase())).size;
        const first = await writeAll(pages);
        const kept = await rejectedOf(first);
        expect(kept).toHaveLength(invalid);
        for (const { reason } of kept) expect(reason).toMatch(/\S/);
        expect(await storedDifferences(await expectedVersions(pages))).toEqual([]);

        const mark = await writes.mark();
        const second = await writeAll(pages);
        expect(await writes.writtenSince(mark)).toEqual({
          accounts: 0,
          users: 0,
          account_users: 0,
          account_status_changes: 0,
          rejected_records: invalid,
        });
        expect(await rejectedOf(second)).toEqual(kept);
      }),
      150,
    );
    // The runs exercised what they are about.
    expect(seen.invalid, `FC_SEED=${seed}`).toBeGreaterThan(100);
    expect(seen.repeated, `FC_SEED=${seed}`).toBeGreaterThan(100);
  }, 120_000);
});
