// Consecutive pages share accounts, and a page leaves the ones it shares to the previous page's
// batch, so that two transactions never insert the same account. A process killed after a page
// committed, but before the previous page did, leaves those accounts to nobody: the resumed walk
// fetches the previous page again, and a tie of created_at served in another order may no longer
// put them on it. The page then proves only what lies above them, and the run goes back for them.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { openClient } from '../../src/db/pg-client.js';
import { silentLogger } from '../../src/logger.js';
import { runSync } from '../../src/sync/run.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pollUntil } from '../support/daemon.js';
import { SECOND_PAGE_ACCOUNT, TIE_GROUP, tieClient, tieDataset } from '../support/tie-server.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('left_out');
  prisma = createPrisma(db.url, { poolSize: 8 });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

describe('accounts a page left to the previous one', () => {
  it('are listed by a resumed run even when the process died before the previous page committed', async () => {
    const list = tieDataset();
    const held = list[SECOND_PAGE_ACCOUNT]!;
    // An older version of one account of the second page is stored: its page must update it.
    const earlier = await runSync(
      { prisma, client: tieClient([{ ...held, name: 'before', updated_at: '2023-12-31T00:00:00Z' }], []), logger: silentLogger() },
      { pageSize: 1000, concurrency: 2, maxPages: 1000 },
    );
    expect(earlier.status).toBe('succeeded');

    // That row locked: the second page's transaction waits while the third commits.
    const lock = await openClient(db.url, 'account-sync test lock');
    await lock.query('BEGIN');
    await lock.query('SELECT id FROM accounts WHERE id = $1 FOR UPDATE', [held.id]);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/tie-sync-child.ts', db.url], { stdio: 'ignore' });
    const committed = async () =>
      (await prisma.$queryRaw<Array<{ page_index: number }>>`
        SELECT p.page_index FROM sync_run_pages p JOIN sync_runs r ON r.id = p.sync_run_id WHERE r.status = 'running' ORDER BY 1`).map((r) => r.page_index);
    await pollUntil(async () => (await committed()).includes(2), 'the third page committed');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(await committed()).toEqual([0, 2]);
    // The dead process's backends go with it; the lock is let go.
    await lock.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'account-sync'`);
    await lock.query('COMMIT');
    await lock.end();

    // Resumed, with the tie group served in another order.
    const [run] = await prisma.$queryRaw<Array<{ id: bigint }>>`SELECT id FROM sync_runs WHERE status = 'running'`;
    const reordered = [TIE_GROUP[2]!, TIE_GROUP[3]!, TIE_GROUP[4]!, TIE_GROUP[0]!, TIE_GROUP[1]!];
    const resumed = await runSync(
      { prisma, client: tieClient(list, reordered), logger: silentLogger() },
      { pageSize: 1000, concurrency: 2, maxPages: 1000, resumeRunId: run!.id },
    );
    expect(resumed).toMatchObject({ status: 'succeeded', walkConsistent: true, healRequests: 1 });
    const live = await prisma.account.findMany({ where: { deletedAt: null }, select: { id: true } });
    expect(new Set(live.map((a) => a.id))).toEqual(new Set(list.map((a) => a.id)));
  });
});
