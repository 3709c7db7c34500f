// Two writers of one account at once (a webhook event and a sync page, as the soak with
// --webhooks makes them race): the second waits for the first's row lock and writes over the
// version the first committed, a version its own statement's snapshot did not show. Its status
// change must come from that version's status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { recordStatusChanges, type WriteContext } from '../../src/mirror/mirror-writes.js';
import { writeAccounts } from '../../src/mirror/accounts.js';
import { writePage } from '../../src/sync/store.js';
import type { AccountRecord } from '../../src/upvest/schema.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('concurrent_writers');
  prisma = createPrisma(db.url, { poolSize: 4 });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const ID = '0a000000-0000-4000-8000-000000000001';
const version = (updatedAt: string, status: string): AccountRecord => ({
  id: ID,
  accountGroupId: '0b000000-0000-4000-8000-000000000001',
  type: 'TRADING',
  name: 'Race',
  status,
  accountNumber: 1,
  createdAt: '2026-01-01T00:00:00.000000Z',
  updatedAt,
  users: [{ id: '0c000000-0000-4000-8000-000000000001', type: 'OWNER' }],
});

/** A sync's page of one account, as a run writes it. */
async function syncPage(runId: bigint, pageIndex: number, account: AccountRecord): Promise<void> {
  await writePage(prisma, {
    runId,
    pageIndex,
    offset: 0,
    totalCount: 1,
    itemCount: 1,
    firstId: ID,
    lastId: ID,
    accounts: [account],
    rejected: [],
    listedIds: [ID],
    retries: 0,
    observedAt: new Date(),
  });
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('two writers of one account at once', () => {
  it('records the second change from the status the first wrote, not from its snapshot', async () => {
    const [run] = await prisma.$queryRaw<Array<{ id: bigint }>>`
      INSERT INTO sync_runs (mode, status, started_at, page_size) VALUES ('full', 'running', now(), 100) RETURNING id`;
    await syncPage(run!.id, 0, version('2026-01-01T00:00:01.000000Z', 'ACTIVE'));

    // The webhook's transaction writes LOCKED and holds its row lock...
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let wrote = false;
    const webhook: WriteContext = { observedAt: new Date(), runId: null, eventIds: new Map([[ID, '0d000000-0000-4000-8000-000000000001']]) };
    const first = prisma.$transaction(async (tx) => {
      const written = await writeAccounts(tx, webhook, [version('2026-01-01T00:00:02.000000Z', 'LOCKED')]);
      await recordStatusChanges(tx, webhook, written.changes);
      wrote = true;
      await held;
    });
    await until(async () => wrote);
    // ...while a sync page's statement, its snapshot showing ACTIVE, waits for that lock to write ACTIVE again.
    const second = syncPage(run!.id, 1, version('2026-01-01T00:00:03.000000Z', 'ACTIVE'));
    await until(async () => {
      const [row] = await prisma.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      return row!.n > 0;
    });
    release();
    await Promise.all([first, second]);

    const history = await prisma.$queryRaw<Array<{ from_status: string | null; to_status: string; source: string }>>`
      SELECT from_status, to_status, source FROM account_status_changes WHERE account_id = ${ID}::uuid ORDER BY id`;
    expect(history).toEqual([
      { from_status: null, to_status: 'ACTIVE', source: 'sync' },
      { from_status: 'ACTIVE', to_status: 'LOCKED', source: 'webhook' },
      { from_status: 'LOCKED', to_status: 'ACTIVE', source: 'sync' },
    ]);
    const [row] = await prisma.$queryRaw<Array<{ status: string }>>`SELECT status FROM accounts WHERE id = ${ID}::uuid`;
    expect(row).toEqual({ status: 'ACTIVE' });
  });
});
