// What the status page asks for every few seconds: freshness, the last runs, the run in
// progress and the webhook path's lag. All cheap (a few index lookups on small tables and
// partial indexes), so read exactly on every request.
// The run in progress is read from its committed pages (sync_run_pages), not from this
// process's memory, so every replica shows the same progress whichever one runs the sync.
import type { PrismaClient } from '../db/prisma.js';
import { mirrorFreshness, reportRuns, type Freshness, type RunReport } from '../runs/report.js';
import { readWebhookLag, type WebhookLag } from '../webhooks/lag-report.js';

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
  /** The webhook path's freshness; null while webhook_events has no row. */
  webhooks: WebhookLag | null;
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
  const [{ runs, rows }, freshness, changes, webhooks] = await Promise.all([
    reportRuns(prisma, options.runs, options.now),
    mirrorFreshness(prisma, options.intervalMs, options.now),
    prisma.$queryRaw<Array<{ max_id: string | null }>>`SELECT max(id)::text AS max_id FROM account_status_changes`,
    readWebhookLag(prisma, options.now),
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
    webhooks,
    // Every write of a run that moves a figure is made by one of the newest runs (it holds the
    // run lock), inside a page (a sync_run_pages row, counted in accounts_seen while it runs) or
    // when it closes (status, deletions, finished_at). A webhook event moves a figure only by
    // changing a status (a new account included), and every status change, whoever wrote it,
    // moves the feed's newest id.
    mirrorVersion: [
      changes[0]?.max_id ?? '0',
      options.now.toISOString().slice(0, 13),
      ...runs.map((run) => `${run.id}.${run.status}.${run.finishedAt ?? ''}.${run.inProgress ? run.pages : ''}.${run.accountsSeen}`),
    ].join('|'),
  };
}
