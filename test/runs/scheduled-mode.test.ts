// Which mode a scheduled run takes: full unless a full run that settled deletions succeeded
// within SYNC_FULL_INTERVAL_MS. A full run whose walk was inconsistent leaves deletions to the
// next full run, so the next scheduled run must be that full run, not an incremental one.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { scheduledMode } from '../../src/runs/lifecycle.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let prisma: PrismaClient;
const now = new Date('2026-11-30T12:00:00Z');
const hour = 3_600_000;

beforeAll(async () => {
  db = await createTestDatabase('scheduled_mode');
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});
beforeEach(async () => {
  await prisma.$executeRaw`DELETE FROM sync_runs`;
});

async function fullRun(hoursAgo: number, deletionsComplete: boolean | null, status = 'succeeded'): Promise<void> {
  const startedAt = new Date(now.getTime() - hoursAgo * hour);
  await prisma.$executeRaw`
    INSERT INTO sync_runs (mode, status, started_at, finished_at, page_size, deletions_complete)
    VALUES ('full', ${status}, ${startedAt}, ${new Date(startedAt.getTime() + 60_000)}, 1000, ${deletionsComplete})`;
}

describe('the mode of a scheduled run', () => {
  it('is full with no run behind it, and incremental within the interval of a full run that settled deletions', async () => {
    expect(await scheduledMode(prisma, 24 * hour, now)).toBe('full');
    await fullRun(2, true);
    expect(await scheduledMode(prisma, 24 * hour, now)).toBe('incremental');
    expect(await scheduledMode(prisma, 1 * hour, now)).toBe('full');
  });

  it('is full again after a full run that left deletions to the next one, or that failed', async () => {
    await fullRun(30, true);
    await fullRun(2, false);
    await fullRun(1, null, 'failed');
    expect(await scheduledMode(prisma, 24 * hour, now)).toBe('full');
  });
});
