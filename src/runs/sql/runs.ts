// Statements reading sync_runs, one function each. Those writing it are in run-writes.ts, which
// only the run's owner (src/runs/lifecycle.ts) calls. The Prisma client's model where a value
// fits a Date; raw SQL where a timestamp is wanted as text with its microseconds (utcText).
import type { Db } from '../../db/prisma.js';
import { Prisma } from '../../db/prisma.js';

export type RunMode = 'full' | 'incremental';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'incomplete';

/** A timestamp column as RFC 3339 UTC text with microseconds (a Date would drop them). */
export function utcText(column: string): Prisma.Sql {
  return Prisma.raw(`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
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
  const run = await db.syncRun.findFirst({
    where: { status: 'succeeded', mode: 'full', deletionsComplete: true, finishedAt: { not: null } },
    orderBy: { finishedAt: 'desc' },
    select: { startedAt: true },
  });
  return run?.startedAt ?? null;
}

/** The run's `since` (incremental runs) as RFC 3339 text with microseconds. */
export async function runSince(db: Db, runId: bigint): Promise<string | null> {
  const [row] = await db.$queryRaw<Array<{ since: string | null }>>`SELECT ${utcText('since')} AS since FROM sync_runs WHERE id = ${runId}`;
  return row?.since ?? null;
}

/** Whether the last run to finish could not prove it listed every account: the next must be full. */
export async function lastRunIncomplete(db: Db): Promise<boolean> {
  const run = await db.syncRun.findFirst({
    where: { finishedAt: { not: null }, status: { in: ['succeeded', 'incomplete'] } },
    orderBy: { finishedAt: 'desc' },
    select: { status: true },
  });
  return run?.status === 'incomplete';
}
