// What the status page asks for every few seconds: freshness, the last runs, and the run in
// progress. All cheap (a few index lookups on small tables), so read exactly on every request.
// The run in progress is read from its committed pages (sync_run_pages), not from this
// process's memory, so every replica shows the same progress whichever one runs the sync.
import { Prisma, type PrismaClient } from '../db/prisma.js';

export interface LiveRun {
  id: string;
  mode: string;
  /** running | succeeded | failed | interrupted */
  status: string;
  startedAt: string;
  finishedAt: string | null;
  /** Until now for a run that has not finished. */
  durationMs: number;
  pages: number;
  accountsSeen: number;
  accountsWritten: number;
  statusChanges: number;
  deletions: number;
  rejectedRecords: number;
  retries: number;
  /** As stored: redacted when the run failed. */
  errorCode: string | null;
  error: string | null;
}

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

export interface LiveStatus {
  checkedAt: string;
  state: 'ok' | 'stale' | 'never_succeeded';
  staleAfterMs: number;
  lastSuccess: { runId: string; finishedAt: string; ageMs: number } | null;
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

interface RunRow {
  id: string;
  mode: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  started_ms: number;
  finished_ms: number | null;
  pages: number;
  accounts_seen: number;
  accounts_written: number;
  status_changes: number;
  deletions: number;
  rejected_records: number;
  retries: number;
  error_code: string | null;
  error: string | null;
  page_count: number | null;
  accounts_done: number | null;
  page_total: number | null;
  last_page_at: string | null;
}

export async function readLiveStatus(
  prisma: PrismaClient,
  options: { runs: number; intervalMs: number; now: Date },
): Promise<LiveStatus> {
  const nowMs = options.now.getTime();
  const staleAfterMs = 2 * options.intervalMs;
  const [runs, success, changes] = await Promise.all([
    // Counters are written when a run closes; until then its committed pages say how far it got.
    prisma.$queryRaw<RunRow[]>`
      SELECT r.id::text AS id, r.mode, r.status,
             ${utc('r.started_at')} AS started_at, ${utc('r.finished_at')} AS finished_at,
             (extract(epoch FROM r.started_at) * 1000)::float8 AS started_ms,
             (extract(epoch FROM r.finished_at) * 1000)::float8 AS finished_ms,
             coalesce(p.pages, r.pages)::int AS pages,
             coalesce(p.seen, r.accounts_seen)::int AS accounts_seen,
             coalesce(p.written, r.accounts_inserted + r.accounts_updated)::int AS accounts_written,
             coalesce(p.status_changes, r.status_changes)::int AS status_changes,
             r.deletions::int AS deletions,
             coalesce(p.rejected, r.rejected_records)::int AS rejected_records,
             coalesce(p.retries, r.retries)::int AS retries,
             r.error_code, r.error,
             p.pages::int AS page_count, p.done::int AS accounts_done, p.total::int AS page_total,
             ${utc('p.last_at')} AS last_page_at
      FROM (SELECT * FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT ${options.runs}::int) r
      LEFT JOIN LATERAL (
        SELECT count(*) AS pages, sum(pg.item_count) AS seen, sum(pg.inserted + pg.updated) AS written,
               sum(pg.status_changes) AS status_changes, sum(pg.rejected) AS rejected, sum(pg.retries) AS retries,
               sum(CASE WHEN pg.page_index = 0 THEN pg.item_count ELSE greatest(pg.item_count - 1, 0) END) AS done,
               max(pg.total_count) AS total, max(pg.committed_at) AS last_at
        FROM sync_run_pages pg
        WHERE pg.sync_run_id = r.id AND r.status IN ('running', 'interrupted')
        HAVING count(*) > 0
      ) p ON true
      ORDER BY r.started_at DESC, r.id DESC`,
    prisma.$queryRaw<Array<{ id: string; finished_at: string; finished_ms: number }>>`
      SELECT r.id::text AS id, ${utc('r.finished_at')} AS finished_at,
             (extract(epoch FROM r.finished_at) * 1000)::float8 AS finished_ms
      FROM sync_runs r
      WHERE r.status = 'succeeded' AND r.finished_at IS NOT NULL
      ORDER BY r.finished_at DESC
      LIMIT 1`,
    prisma.$queryRaw<Array<{ max_id: string | null }>>`SELECT max(id)::text AS max_id FROM account_status_changes`,
  ]);
  const last = success[0];
  const ageMs = last ? Math.max(0, Math.round(nowMs - last.finished_ms)) : null;
  const running = runs.find((run) => run.status === 'running');
  return {
    checkedAt: options.now.toISOString(),
    state: ageMs === null ? 'never_succeeded' : ageMs > staleAfterMs ? 'stale' : 'ok',
    staleAfterMs,
    lastSuccess: last && ageMs !== null ? { runId: last.id, finishedAt: last.finished_at, ageMs } : null,
    inProgress: running
      ? {
          runId: running.id,
          mode: running.mode,
          startedAt: running.started_at,
          pagesDone: running.page_count ?? 0,
          accountsDone: running.accounts_done ?? 0,
          totalCount: running.page_total,
          lastPageAt: running.last_page_at,
        }
      : null,
    runs: runs.map((run) => ({
      id: run.id,
      mode: run.mode,
      status: run.status,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      durationMs: Math.max(0, Math.round((run.finished_ms ?? nowMs) - run.started_ms)),
      pages: run.pages,
      accountsSeen: run.accounts_seen,
      accountsWritten: run.accounts_written,
      statusChanges: run.status_changes,
      deletions: run.deletions,
      rejectedRecords: run.rejected_records,
      retries: run.retries,
      errorCode: run.error_code,
      error: run.error,
    })),
    // Every write to the mirror is made by a run that is among the newest (it holds the run
    // lock), inside a page (a sync_run_pages row, counted in accounts_seen while it runs) or
    // when it closes (status, finished_at); status changes also move the feed's newest id.
    mirrorVersion: [
      changes[0]?.max_id ?? '0',
      new Date(nowMs).toISOString().slice(0, 13),
      ...runs.map((run) => `${run.id}.${run.status}.${run.finished_at ?? ''}.${run.page_count ?? ''}.${run.accounts_seen}`),
    ].join('|'),
  };
}

function utc(column: string) {
  return Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}
