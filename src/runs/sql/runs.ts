// Statements on sync_runs, one function each. The run module is the only writer of this table.
import type { Db } from '../../db/prisma.js';
import { Prisma } from '../../db/prisma.js';
import { currentRelease, releaseTag } from '../../release.js';
import type { RunTotals } from '../outcome.js';

export type RunMode = 'full' | 'incremental';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'incomplete';

/** A timestamp column as RFC 3339 UTC text with microseconds (a Date would drop them). */
export function utcText(column: string): Prisma.Sql {
  return Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
}

export async function insertRun(
  db: Db,
  run: { mode: RunMode; pageSize: number; pageOverlap: number; startedAt: Date; since: string | null },
): Promise<bigint> {
  // The watermark has microseconds, which a Date would drop: it goes in as text.
  const [row] = await db.$queryRaw<Array<{ id: bigint }>>`
    INSERT INTO sync_runs (mode, page_size, page_overlap, started_at, since, release)
    VALUES (${run.mode}, ${run.pageSize}, ${run.pageOverlap}, ${run.startedAt}, ${run.since}::timestamptz, ${releaseTag(currentRelease())})
    RETURNING id`;
  return row!.id;
}

export async function setWatermark(db: Db, runId: bigint, watermark: string): Promise<void> {
  await db.$executeRaw`UPDATE sync_runs SET watermark = ${watermark}::timestamptz WHERE id = ${runId}`;
}

export async function setPageSize(db: Db, runId: bigint, pageSize: number): Promise<void> {
  await db.$executeRaw`UPDATE sync_runs SET page_size = ${pageSize} WHERE id = ${runId}`;
}

/** The last successful run's watermark less `lagMs`, as RFC 3339 text; null when none has succeeded. */
export async function lastWatermark(db: Db, lagMs: number): Promise<string | null> {
  const [row] = await db.$queryRaw<Array<{ since: string | null }>>`
    SELECT to_char((watermark - make_interval(secs => ${lagMs / 1000}::float8)) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS since
    FROM sync_runs
    WHERE status = 'succeeded' AND watermark IS NOT NULL
    ORDER BY finished_at DESC
    LIMIT 1`;
  return row?.since ?? null;
}

export interface ReopenedRun {
  startedAt: Date;
  pageSize: number;
  /** null for a run an earlier release began. */
  pageOverlap: number | null;
  healRequests: number;
  mode: RunMode;
  since: string | null;
  watermark: string | null;
}

/** Sets a `running` or `interrupted` run running again; null when it is neither. */
export async function reopenRun(db: Db, runId: bigint): Promise<ReopenedRun | null> {
  const [row] = await db.$queryRaw<
    Array<{ started_at: Date; page_size: number; page_overlap: number | null; heal_requests: number; mode: RunMode; since: string | null; watermark: string | null }>
  >`
    UPDATE sync_runs SET status = 'running', finished_at = NULL
    WHERE id = ${runId} AND status IN ('running', 'interrupted')
    RETURNING started_at, page_size, page_overlap, heal_requests, mode, ${utcText('since')} AS since, ${utcText('watermark')} AS watermark`;
  if (!row) return null;
  return {
    startedAt: row.started_at,
    pageSize: row.page_size,
    pageOverlap: row.page_overlap,
    healRequests: row.heal_requests,
    mode: row.mode,
    since: row.since,
    watermark: row.watermark,
  };
}

/** Counts a resumption (sync_runs.resumes, resumed_at); returns how many there have been. */
export async function markResumed(db: Db, runId: bigint, at: Date): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ resumes: number }>>`
    UPDATE sync_runs SET resumes = resumes + 1, resumed_at = ${at} WHERE id = ${runId} RETURNING resumes`;
  return row?.resumes ?? 0;
}

export interface UnfinishedRun {
  runId: bigint;
  mode: RunMode;
  pageSize: number;
  status: 'running' | 'interrupted';
  startedAt: Date;
  /** The last sign of life: its last committed page, its interruption, or its start. */
  lastActivityAt: Date;
  /** Whether this release can resume it: its pages keep their keys (runs of earlier releases do not). */
  resumable: boolean;
}

/** Runs left `running` or `interrupted`, newest first. */
export async function unfinishedRuns(db: Db): Promise<UnfinishedRun[]> {
  const rows = await db.$queryRaw<
    Array<{ id: bigint; mode: RunMode; page_size: number; status: 'running' | 'interrupted'; started_at: Date; last_activity_at: Date; resumable: boolean }>
  >`
    SELECT r.id, r.mode, r.page_size, r.status, r.started_at, r.page_overlap IS NOT NULL AS resumable,
           greatest(r.started_at, r.finished_at, r.resumed_at,
                    (SELECT max(p.committed_at) FROM sync_run_pages p WHERE p.sync_run_id = r.id)) AS last_activity_at
    FROM sync_runs r
    WHERE r.status IN ('running', 'interrupted')
    ORDER BY r.started_at DESC, r.id DESC`;
  return rows.map((row) => ({
    runId: row.id,
    mode: row.mode,
    pageSize: row.page_size,
    status: row.status,
    startedAt: row.started_at,
    lastActivityAt: row.last_activity_at,
    resumable: row.resumable,
  }));
}

export interface RunEnd {
  runId: bigint;
  status: Exclude<RunStatus, 'running'>;
  finishedAt: Date;
  pageSize: number;
  totalCount: number | null;
  totals: RunTotals;
  walkComplete: boolean;
  walkConsistent: boolean;
  inconsistencies: string[];
  error: { code: string; message: string } | null;
  /** null: the run did not get that far (failed, interrupted). */
  deletionsComplete: boolean | null;
  deletionsNote: string | null;
}

export async function recordRunEnd(db: Db, end: RunEnd): Promise<void> {
  const t = end.totals;
  await db.$executeRaw`
    UPDATE sync_runs SET
      status = ${end.status}, finished_at = ${end.finishedAt}, page_size = ${end.pageSize}, total_count = ${end.totalCount},
      pages = ${t.pages}, accounts_seen = ${t.accountsSeen}, accounts_inserted = ${t.inserted},
      accounts_updated = ${t.updated}, accounts_unchanged = ${t.unchanged}, status_changes = ${t.statusChanges},
      deletions = ${t.deletions}, rejected_records = ${t.rejected}, retries = ${t.retries},
      walk_complete = ${end.walkComplete}, walk_consistent = ${end.walkConsistent},
      inconsistencies = ${end.inconsistencies}::text[],
      deletions_complete = ${end.deletionsComplete}, deletions_note = ${end.deletionsNote},
      error_code = ${end.error?.code ?? null}, error = ${end.error?.message ?? null}
    WHERE id = ${end.runId}`;
}

export interface SucceededRun {
  runId: bigint;
  finishedAt: Date;
  /** finished_at as RFC 3339 UTC text with microseconds. */
  finishedAtUtc: string;
}

/** The last successful run, by when it finished. */
export async function lastSuccessfulRun(db: Db): Promise<SucceededRun | null> {
  const [row] = await db.$queryRaw<Array<{ id: bigint; finished_at: Date; finished_utc: string }>>`
    SELECT id, finished_at, ${utcText('finished_at')} AS finished_utc
    FROM sync_runs
    WHERE status = 'succeeded' AND finished_at IS NOT NULL
    ORDER BY finished_at DESC
    LIMIT 1`;
  return row ? { runId: row.id, finishedAt: row.finished_at, finishedAtUtc: row.finished_utc } : null;
}

/** When the last successful full run that settled deletions started; null when none has. */
export async function lastFullRunStart(db: Db): Promise<Date | null> {
  const [row] = await db.$queryRaw<Array<{ started_at: Date }>>`
    SELECT started_at FROM sync_runs
    WHERE status = 'succeeded' AND mode = 'full' AND deletions_complete AND finished_at IS NOT NULL
    ORDER BY finished_at DESC
    LIMIT 1`;
  return row?.started_at ?? null;
}

/** The run's `since` (incremental runs) as RFC 3339 text with microseconds. */
export async function runSince(db: Db, runId: bigint): Promise<string | null> {
  const [row] = await db.$queryRaw<Array<{ since: string | null }>>`SELECT ${utcText('since')} AS since FROM sync_runs WHERE id = ${runId}`;
  return row?.since ?? null;
}

/** Adds windows fetched to close gaps to the run's count; the count now. */
export async function addHealRequests(db: Db, runId: bigint, requests: number): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ heal_requests: number }>>`
    UPDATE sync_runs SET heal_requests = heal_requests + ${requests}::int WHERE id = ${runId} RETURNING heal_requests`;
  return row?.heal_requests ?? requests;
}

/** Whether the last run to finish could not prove it listed every account: the next must be full. */
export async function lastRunIncomplete(db: Db): Promise<boolean> {
  const [row] = await db.$queryRaw<Array<{ status: string }>>`
    SELECT status FROM sync_runs WHERE finished_at IS NOT NULL AND status IN ('succeeded', 'incomplete')
    ORDER BY finished_at DESC LIMIT 1`;
  return row?.status === 'incomplete';
}
