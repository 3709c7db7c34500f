// Planner statistics of the mirror after a run that changed much of it.
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { RunTotals } from '../runs/outcome.js';

/**
 * After a run that changed a good part of the mirror (a first sync above all), the planner's
 * statistics describe tables that no longer exist: refresh them rather than wait for
 * autovacuum (which may be slow to come, or off), so analysts' queries and the next run plan
 * well. ANALYZE reads a sample and writes no row of the mirror.
 */
export async function refreshStatistics(prisma: PrismaClient, totals: RunTotals, logger: Logger): Promise<void> {
  const written = totals.inserted + totals.updated + totals.deletions;
  if (written < 10_000 && written < totals.accountsSeen / 10) return;
  try {
    await prisma.$executeRawUnsafe('ANALYZE accounts, users, account_users, account_status_changes');
  } catch (error) {
    logger.warn({ err: error }, 'could not refresh the planner statistics of the mirror');
  }
}
