// Which accounts a complete, consistent full walk marks deleted: the live ones its pages do not
// list, but never one first seen after the run began (a webhook can bring an account in after
// the walk has passed its place in the list: the walk could not have listed it).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { markUnlistedDeleted, unlistedLiveAccounts, unlistedLiveCount } from '../../src/mirror/deletion-marks.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('unlisted');
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const runStart = new Date('2026-11-30T12:00:00Z');
const before = new Date('2026-11-30T11:00:00Z');
const after = new Date('2026-11-30T12:00:05Z');

async function account(runId: bigint, firstSeenAt: Date): Promise<string> {
  const id = randomUUID();
  await prisma.$executeRaw`
    INSERT INTO accounts (id, account_group_id, type, name, status, account_number, created_at, updated_at,
                          first_seen_at, last_seen_at, last_sync_run_id)
    VALUES (${id}::uuid, ${randomUUID()}::uuid, 'TRADING', 'Test', 'ACTIVE', 1, ${before}, ${before}, ${firstSeenAt}, ${firstSeenAt}, ${runId})`;
  return id;
}

describe('the accounts a full walk did not list', () => {
  it('are marked deleted only if they were first seen before the run began', async () => {
    const [run] = await prisma.$queryRaw<Array<{ id: bigint }>>`
      INSERT INTO sync_runs (mode, status, started_at, page_size) VALUES ('full', 'running', ${runStart}, 10) RETURNING id`;
    const runId = run!.id;
    const listed = await account(runId, before);
    const unlisted = await account(runId, before);
    const broughtByWebhook = await account(runId, after);
    await prisma.$executeRaw`
      INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, account_ids)
      VALUES (${runId}, 0, 0, 1, 1, ${[listed]}::uuid[])`;

    expect(await unlistedLiveAccounts(prisma, runId, 10)).toEqual([unlisted]);
    expect(await unlistedLiveCount(prisma, runId)).toBe(1);
    const marked = await prisma.$transaction((tx) => markUnlistedDeleted(tx, runId, after));
    expect(marked).toBe(1);
    expect(await prisma.$transaction((tx) => unlistedLiveCount(tx, runId))).toBe(0);
    const rows = await prisma.$queryRaw<Array<{ id: string; deleted: boolean }>>`
      SELECT id::text, deleted_at IS NOT NULL AS deleted FROM accounts ORDER BY id`;
    expect(Object.fromEntries(rows.map((r) => [r.id, r.deleted]))).toEqual({ [listed]: false, [unlisted]: true, [broughtByWebhook]: false });
  });
});
