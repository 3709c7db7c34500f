// What `account-sync status` reports: the last runs, the live accounts by status, and whether
// the mirror is fresh, judged against the schedule (stale past twice its interval).
import { Prisma, type PrismaClient } from '../db/prisma.js';

export type MirrorState = 'ok' | 'stale' | 'never_succeeded';

export interface RunReport {
  id: string;
  mode: string;
  /** running | succeeded | failed | interrupted */
  status: string;
  startedAt: string;
  finishedAt: string | null;
  /** Until now for a run that has not finished. */
  durationMs: number;
  /** Whether the counters below are the committed pages so far rather than the run's totals. */
  inProgress: boolean;
  accountsSeen: number;
  /** Inserted plus updated. */
  accountsWritten: number;
  accountsInserted: number;
  accountsUpdated: number;
  statusChanges: number;
  deletions: number;
  rejectedRecords: number;
  errorCode: string | null;
  error: string | null;
}

export interface StatusReport {
  checkedAt: string;
  intervalMs: number;
  staleAfterMs: number;
  state: MirrorState;
  lastSuccess: { runId: string; finishedAt: string; ageMs: number } | null;
  accounts: { live: number; deleted: number; byStatus: Array<{ status: string; accounts: number }> };
  runs: RunReport[];
}

export const STALE_EXIT_CODE = 3;

export async function buildStatusReport(
  prisma: PrismaClient,
  options: { runs: number; intervalMs: number; now: Date },
): Promise<StatusReport> {
  const nowMs = options.now.getTime();
  const staleAfterMs = 2 * options.intervalMs;
  const [runs, lastSuccess, byStatus, deleted] = await Promise.all([
    lastRuns(prisma, options.runs),
    prisma.$queryRaw<Array<{ id: string; finished_at: string; finished_ms: number }>>`
      SELECT r.id::text AS id, ${utc('r.finished_at')} AS finished_at,
             (extract(epoch FROM r.finished_at) * 1000)::float8 AS finished_ms
      FROM sync_runs r
      WHERE r.status = 'succeeded'
      ORDER BY r.finished_at DESC
      LIMIT 1`,
    prisma.$queryRaw<Array<{ status: string; accounts: number }>>`
      SELECT status, accounts::int AS accounts FROM account_status_counts ORDER BY status`,
    prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM accounts WHERE deleted_at IS NOT NULL`,
  ]);
  const success = lastSuccess[0];
  const ageMs = success ? Math.max(0, Math.round(nowMs - success.finished_ms)) : null;
  const state: MirrorState = ageMs === null ? 'never_succeeded' : ageMs > staleAfterMs ? 'stale' : 'ok';
  return {
    checkedAt: options.now.toISOString(),
    intervalMs: options.intervalMs,
    staleAfterMs,
    state,
    lastSuccess: success && ageMs !== null ? { runId: success.id, finishedAt: success.finished_at, ageMs } : null,
    accounts: {
      live: byStatus.reduce((sum, row) => sum + row.accounts, 0),
      deleted: deleted[0]?.n ?? 0,
      byStatus,
    },
    runs: runs.map((run) => ({
      id: run.id,
      mode: run.mode,
      status: run.status,
      startedAt: run.started_at,
      finishedAt: run.finished_at,
      durationMs: Math.max(0, Math.round((run.finished_ms ?? nowMs) - run.started_ms)),
      inProgress: run.in_progress,
      accountsSeen: run.accounts_seen,
      accountsWritten: run.accounts_inserted + run.accounts_updated,
      accountsInserted: run.accounts_inserted,
      accountsUpdated: run.accounts_updated,
      statusChanges: run.status_changes,
      deletions: run.deletions,
      rejectedRecords: run.rejected_records,
      errorCode: run.error_code,
      error: run.error,
    })),
  };
}

interface RunRow {
  id: string;
  mode: string;
  status: string;
  started_at: string;
  finished_at: string | null;
  started_ms: number;
  finished_ms: number | null;
  in_progress: boolean;
  accounts_seen: number;
  accounts_inserted: number;
  accounts_updated: number;
  status_changes: number;
  deletions: number;
  rejected_records: number;
  error_code: string | null;
  error: string | null;
}

async function lastRuns(prisma: PrismaClient, count: number): Promise<RunRow[]> {
  if (count <= 0) return [];
  // A run's counters are written when it closes; until then its committed pages say how far it got.
  return prisma.$queryRaw<RunRow[]>`
    SELECT r.id::text AS id, r.mode, r.status,
           ${utc('r.started_at')} AS started_at, ${utc('r.finished_at')} AS finished_at,
           (extract(epoch FROM r.started_at) * 1000)::float8 AS started_ms,
           (extract(epoch FROM r.finished_at) * 1000)::float8 AS finished_ms,
           r.status IN ('running', 'interrupted') AS in_progress,
           coalesce(p.seen, r.accounts_seen)::int AS accounts_seen,
           coalesce(p.inserted, r.accounts_inserted)::int AS accounts_inserted,
           coalesce(p.updated, r.accounts_updated)::int AS accounts_updated,
           coalesce(p.status_changes, r.status_changes)::int AS status_changes,
           r.deletions::int AS deletions,
           coalesce(p.rejected, r.rejected_records)::int AS rejected_records,
           r.error_code, r.error
    FROM sync_runs r
    LEFT JOIN LATERAL (
      SELECT pg.sync_run_id, sum(pg.item_count) AS seen, sum(pg.inserted) AS inserted, sum(pg.updated) AS updated,
             sum(pg.status_changes) AS status_changes, sum(pg.rejected) AS rejected
      FROM sync_run_pages pg
      WHERE pg.sync_run_id = r.id AND r.status IN ('running', 'interrupted')
      GROUP BY pg.sync_run_id
    ) p ON true
    ORDER BY r.started_at DESC, r.id DESC
    LIMIT ${count}::int`;
}

function utc(column: string) {
  return Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}
