// The runs as `account-sync status` and the status page show them. A run's counters are written
// when it closes; until then its committed pages say how far it got.
import type { Db } from '../../db/prisma.js';
import type { RunCounts } from '../outcome.js';
import { utcText } from './runs.js';

export interface RunRow extends RunCounts {
  id: string;
  mode: string;
  /** running | succeeded | failed | interrupted */
  status: string;
  startedAt: string;
  finishedAt: string | null;
  startedMs: number;
  finishedMs: number | null;
  /** Whether the counters are its committed pages so far rather than its totals. */
  inProgress: boolean;
  pages: number;
  errorCode: string | null;
  /** As stored: redacted before it was written. */
  error: string | null;
  /** Of a run in progress: total_count of its pages (null before its first), its last page's commit. */
  totalCount: number | null;
  lastPageAt: string | null;
}

/** The newest `count` runs, newest first. */
export async function latestRuns(db: Db, count: number): Promise<RunRow[]> {
  if (count <= 0) return [];
  const rows = await db.$queryRaw<
    Array<{
      id: string;
      mode: string;
      status: string;
      started_at: string;
      finished_at: string | null;
      started_ms: number;
      finished_ms: number | null;
      in_progress: boolean;
      pages: number;
      accounts_seen: number;
      inserted: number;
      updated: number;
      status_changes: number;
      deletions: number;
      rejected: number;
      retries: number;
      error_code: string | null;
      error: string | null;
      total_count: number | null;
      last_page_at: string | null;
    }>
  >`
    SELECT r.id::text AS id, r.mode, r.status,
           ${utcText('r.started_at')} AS started_at, ${utcText('r.finished_at')} AS finished_at,
           (extract(epoch FROM r.started_at) * 1000)::float8 AS started_ms,
           (extract(epoch FROM r.finished_at) * 1000)::float8 AS finished_ms,
           r.status IN ('running', 'interrupted') AS in_progress,
           coalesce(p.pages, r.pages)::int AS pages,
           coalesce(p.seen, r.accounts_seen)::int AS accounts_seen,
           coalesce(p.inserted, r.accounts_inserted)::int AS inserted,
           coalesce(p.updated, r.accounts_updated)::int AS updated,
           coalesce(p.status_changes, r.status_changes)::int AS status_changes,
           r.deletions::int AS deletions,
           coalesce(p.rejected, r.rejected_records)::int AS rejected,
           coalesce(p.retries, r.retries)::int AS retries,
           r.error_code, r.error,
           CASE WHEN r.status IN ('running', 'interrupted') THEN coalesce(p.total, r.total_count) END::int AS total_count,
           ${utcText('p.last_at')} AS last_page_at
    FROM (SELECT * FROM sync_runs ORDER BY started_at DESC, id DESC LIMIT ${count}::int) r
    LEFT JOIN LATERAL (
      SELECT count(*) AS pages,
             sum(CASE WHEN pg.page_index = 0 THEN pg.item_count ELSE greatest(pg.item_count - 1, 0) END) AS seen,
             sum(pg.inserted) AS inserted, sum(pg.updated) AS updated, sum(pg.status_changes) AS status_changes,
             sum(pg.rejected) AS rejected, sum(pg.retries) AS retries,
             max(pg.total_count) AS total, max(pg.committed_at) AS last_at
      FROM sync_run_pages pg
      WHERE pg.sync_run_id = r.id AND r.status IN ('running', 'interrupted')
      HAVING count(*) > 0
    ) p ON true
    ORDER BY r.started_at DESC, r.id DESC`;
  return rows.map((row) => ({
    id: row.id,
    mode: row.mode,
    status: row.status,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    startedMs: row.started_ms,
    finishedMs: row.finished_ms,
    inProgress: row.in_progress,
    pages: row.pages,
    accountsSeen: row.accounts_seen,
    inserted: row.inserted,
    updated: row.updated,
    statusChanges: row.status_changes,
    deletions: row.deletions,
    rejected: row.rejected,
    retries: row.retries,
    errorCode: row.error_code,
    error: row.error,
    totalCount: row.total_count,
    lastPageAt: row.last_page_at,
  }));
}
