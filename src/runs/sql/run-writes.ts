// Statements writing sync_runs, one function each. Only the run's owner, src/runs/lifecycle.ts,
// imports this file: it is the one place a run is opened, resumed, changed and closed
// (test/architecture/run-owner.test.ts). Raw SQL: since and the watermark keep microseconds,
// which the Prisma client's Date would drop.
import type { Db } from '../../db/prisma.js';
import { currentRelease, releaseTag } from '../../release.js';
import type { RunTotals } from '../outcome.js';
import { utcText, type RunMode, type RunStatus } from './runs.js';

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

/** Adds windows fetched to close gaps to the run's count; the count now. */
export async function addHealRequests(db: Db, runId: bigint, requests: number): Promise<number> {
  const [row] = await db.$queryRaw<Array<{ heal_requests: number }>>`
    UPDATE sync_runs SET heal_requests = heal_requests + ${requests}::int WHERE id = ${runId} RETURNING heal_requests`;
  return row?.heal_requests ?? requests;
}
