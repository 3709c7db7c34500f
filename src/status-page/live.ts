// What the status page asks for every few seconds: freshness, the last runs, and the run in
// progress. All cheap (a few index lookups on small tables), so read exactly on every request.
// The run in progress is read from its committed pages (sync_run_pages), not from this
// process's memory, so every replica shows the same progress whichever one runs the sync.
import type { PrismaClient } from '../db/prisma.js';
import { mirrorFreshness, reportRuns, type Freshness, type RunReport } from '../runs/report.js';

export type LiveRun = RunReport;

export interface RunProgress {
  runId: string;
  mode: string;
  startedAt: string;
  pagesDone: number;
  /** Each page after the first repeats the previous page's last account; counted once. */
  accountsDone: number;
  /** Accounts Upvest listed when the walk began; null before the first page. */
  totalCount: number | null;
  lastPageAt: string | null;
}

export interface LiveStatus extends Freshness {
  checkedAt: string;
  inProgress: RunProgress | null;
  /** Newest first. */
  runs: LiveRun[];
  /**
   * Changes whenever a committed write could have changed the mirror's figures (a status
   * change, a page, a run closing with its deletions) or the hour turns: the key of the
   * cached figures.
   */
  mirrorVersion: string;
}

export async function readLiveStatus(
  prisma: PrismaClient,
  options: { runs: number; intervalMs: number; now: Date },
): Promise<LiveStatus> {
  const [{ runs, rows }, freshness, changes] = await Promise.all([
    reportRuns(prisma, options.runs, options.now),
    mirrorFreshness(prisma, options.intervalMs, options.now),
    prisma.$queryRaw<Array<{ max_id: string | null }>>`SELECT max(id)::text AS max_id FROM account_status_changes`,
  ]);
  const running = rows.find((run) => run.status === 'running');
  return {
    checkedAt: options.now.toISOString(),
    ...freshness,
    inProgress: running
      ? {
          runId: running.id,
          mode: running.mode,
          startedAt: running.startedAt,
          pagesDone: running.pages,
          accountsDone: running.accountsSeen,
          totalCount: running.totalCount,
          lastPageAt: running.lastPageAt,
        }
      : null,
    runs,
    // Every write to the mirror is made by a run that is among the newest (it holds the run
    // lock), inside a page (a sync_run_pages row, counted in accounts_seen while it runs) or
    // when it closes (status, finished_at); status changes also move the feed's newest id.
    mirrorVersion: [
      changes[0]?.max_id ?? '0',
      options.now.toISOString().slice(0, 13),
      ...runs.map((run) => `${run.id}.${run.status}.${run.finishedAt ?? ''}.${run.inProgress ? run.pages : ''}.${run.accountsSeen}`),
    ].join('|'),
  };
}
