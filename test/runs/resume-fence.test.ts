// A process killed while a page's COMMIT was on its way leaves a backend that can still commit
// that page after the run lock is free. The run that takes over must see that page as done,
// not write it a second time (which failed the run on sync_run_pages' key).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient } from '../../src/db/pg-client.js';
import { createPrisma, pgStatements, type PrismaClient } from '../../src/db/prisma.js';
import { openRun, recordRunPages as recordPages, resumeRun } from '../../src/runs/lifecycle.js';
import { enterPageWrites } from '../../src/runs/sql/pages.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pollUntil } from '../support/daemon.js';
import { emptyPageRecord } from '../support/pages.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('resume_fence');
  prisma = createPrisma(db.url, { poolSize: 3 });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

const page = (runId: bigint, index: number) => emptyPageRecord(runId, index, { offset: index * 9 });

describe('resuming a run', () => {
  it("waits for a page transaction still under way, and counts the page it commits as done", async () => {
    const run = await openRun(prisma, { mode: 'full', pageSize: 10, pageOverlap: 1, startedAt: new Date(), incrementalLagMs: 0 });
    await recordPages(prisma, [page(run.runId, 0)], []);

    // The dead process's backend, its page transaction not yet committed.
    const leftBehind = await openClient(db.url, 'account-sync killed');
    try {
      await leftBehind.query('BEGIN');
      await enterPageWrites(pgStatements(leftBehind), run.runId);
      await recordPages(pgStatements(leftBehind), [page(run.runId, 1)], []);

      let resumed = false;
      const resuming = resumeRun(prisma, run.runId).finally(() => {
        resumed = true;
      });
      await pollUntil(async () => {
        const [waiting] = await prisma.$queryRaw<Array<{ n: number }>>`
          SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND mode = 'ExclusiveLock'`;
        return waiting!.n === 1;
      }, 'the resumed run waiting for the page transaction');
      expect(resumed).toBe(false);

      await leftBehind.query('COMMIT');
      expect((await resuming).donePages.map((p) => p.index)).toEqual([0, 1]);
    } finally {
      await leftBehind.end();
    }
  });

  it('does not wait for the page transactions of another run', async () => {
    const first = await openRun(prisma, { mode: 'full', pageSize: 10, pageOverlap: 1, startedAt: new Date(), incrementalLagMs: 0 });
    const other = await openRun(prisma, { mode: 'full', pageSize: 10, pageOverlap: 1, startedAt: new Date(), incrementalLagMs: 0 });
    const busy = await openClient(db.url, 'account-sync other run');
    try {
      await busy.query('BEGIN');
      await enterPageWrites(pgStatements(busy), other.runId);
      expect((await resumeRun(prisma, first.runId)).donePages).toEqual([]);
    } finally {
      await busy.query('ROLLBACK');
      await busy.end();
    }
  });
});
