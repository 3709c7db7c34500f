// The sync_runs row of a run: opened when it starts, closed with its totals, its verdict on the
// walk and, after a complete and consistent full walk, the accounts that are gone upstream.
import type { PrismaClient } from '../db/prisma.js';
import { withTransactionRetry } from '../db/transactions.js';
import { assessNewestFirstWalk, assessWalk, expectedRepeats, type PageMeta, type WalkAssessment } from './walk.js';

export type RunMode = 'full' | 'incremental';
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted';

export interface RunTotals {
  pages: number;
  accountsSeen: number;
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  deletions: number;
  rejected: number;
  retries: number;
}

export async function openRun(
  prisma: PrismaClient,
  options: { mode: RunMode; pageSize: number; startedAt: Date; since?: string | null },
): Promise<bigint> {
  // Page bookkeeping of finished runs is no longer needed by anyone.
  await prisma.$executeRaw`
    DELETE FROM sync_run_pages WHERE sync_run_id IN (SELECT id FROM sync_runs WHERE status IN ('succeeded', 'failed'))`;
  const run = await prisma.syncRun.create({
    data: { mode: options.mode, pageSize: options.pageSize, startedAt: options.startedAt },
    select: { id: true },
  });
  if (options.since) {
    // Through SQL: the watermark has microseconds, which a Date would drop.
    await prisma.$executeRaw`UPDATE sync_runs SET since = ${options.since}::timestamptz WHERE id = ${run.id}`;
  }
  return run.id;
}

/** Records the newest updated_at Upvest listed when the run started (see migration incremental_runs). */
export async function setWatermark(prisma: PrismaClient, runId: bigint, watermark: string): Promise<void> {
  await prisma.$executeRaw`UPDATE sync_runs SET watermark = ${watermark}::timestamptz WHERE id = ${runId}`;
}

/**
 * Where an incremental run reaches back to: the watermark of the last successful run, less
 * `lagMs` for updates Upvest makes visible late. Null when no run has succeeded yet.
 */
export async function lastWatermark(prisma: PrismaClient, lagMs: number): Promise<string | null> {
  const [row] = await prisma.$queryRaw<Array<{ since: string | null }>>`
    SELECT to_char((watermark - make_interval(secs => ${lagMs / 1000}::float8)) AT TIME ZONE 'UTC',
                   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS since
    FROM sync_runs
    WHERE status = 'succeeded' AND watermark IS NOT NULL
    ORDER BY finished_at DESC
    LIMIT 1`;
  return row?.since ?? null;
}

/** A run left `running`, with what it had committed; it goes on under the same id. */
export async function resumeRun(
  prisma: PrismaClient,
  runId: bigint,
): Promise<{
  runId: bigint;
  startedAt: Date;
  pageSize: number;
  mode: RunMode;
  since: string | null;
  watermark: string | null;
  pages: PageMeta[];
}> {
  const run = await prisma.syncRun.findUniqueOrThrow({
    where: { id: runId },
    select: { status: true, startedAt: true, pageSize: true, mode: true },
  });
  if (run.status !== 'running' && run.status !== 'interrupted') {
    throw new Error(`sync run ${runId} is ${run.status}: only a running or interrupted run can be resumed`);
  }
  await prisma.syncRun.update({ where: { id: runId }, data: { status: 'running', finishedAt: null } });
  const [row] = await prisma.$queryRaw<Array<{ since: string | null; watermark: string | null }>>`
    SELECT to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS since,
           to_char(watermark AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS watermark
    FROM sync_runs WHERE id = ${runId}`;
  return {
    runId,
    startedAt: run.startedAt,
    pageSize: run.pageSize,
    mode: run.mode as RunMode,
    since: row?.since ?? null,
    watermark: row?.watermark ?? null,
    pages: await committedPages(prisma, runId),
  };
}

export async function committedPages(prisma: PrismaClient, runId: bigint): Promise<PageMeta[]> {
  const rows = await prisma.syncRunPage.findMany({
    where: { syncRunId: runId },
    select: { pageIndex: true, pageOffset: true, itemCount: true, totalCount: true, firstId: true, lastId: true },
    orderBy: { pageIndex: 'asc' },
  });
  return rows.map((row) => ({
    index: row.pageIndex,
    offset: row.pageOffset,
    count: row.itemCount,
    totalCount: row.totalCount,
    firstId: row.firstId,
    lastId: row.lastId,
  }));
}

export interface CloseRun {
  runId: bigint;
  mode: RunMode;
  status: 'succeeded' | 'failed' | 'interrupted';
  pageSize: number;
  finishedAt: Date;
  /** Whether the walk ran to its end without an error. */
  walkFinished: boolean;
  error?: { code: string; message: string };
}

export interface ClosedRun {
  totals: RunTotals;
  assessment: WalkAssessment;
  totalCount: number | null;
}

export async function closeRun(prisma: PrismaClient, close: CloseRun): Promise<ClosedRun> {
  return withTransactionRetry(() =>
    prisma.$transaction(
      async (tx) => {
        const pages = await committedPages(tx as unknown as PrismaClient, close.runId);
        const [sums] = await tx.$queryRaw<
          Array<{
            inserted: number;
            updated: number;
            unchanged: number;
            status_changes: number;
            rejected: number;
            unidentified: number;
            retries: number;
          }>
        >`
          SELECT coalesce(sum(inserted), 0)::int AS inserted, coalesce(sum(updated), 0)::int AS updated,
                 coalesce(sum(unchanged), 0)::int AS unchanged, coalesce(sum(status_changes), 0)::int AS status_changes,
                 coalesce(sum(rejected), 0)::int AS rejected, coalesce(sum(unidentified), 0)::int AS unidentified,
                 coalesce(sum(retries), 0)::int AS retries
          FROM sync_run_pages WHERE sync_run_id = ${close.runId}`;
        const [listing] = await tx.$queryRaw<Array<{ listed: number; distinct_ids: number }>>`
          SELECT count(*)::int AS listed, count(DISTINCT id)::int AS distinct_ids
          FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${close.runId}`;
        const listed = listing?.listed ?? 0;
        const distinct = listing?.distinct_ids ?? 0;
        const repeats = listed - distinct;
        const assessment =
          close.mode === 'full'
            ? assessWalk(pages, close.pageSize, Math.max(0, repeats - expectedRepeats(pages)))
            : assessNewestFirstWalk(close.walkFinished);
        const unidentified = sums?.unidentified ?? 0;
        if (unidentified > 0) {
          // Such a record may be an account Upvest still lists: the run cannot tell which.
          assessment.consistent = false;
          assessment.reasons.push(
            `${unidentified} record(s) without a usable id were kept aside, so which accounts are listed cannot be proven`,
          );
        }

        // Only a complete, consistent walk of the whole list knows what is no longer listed.
        let deletions = 0;
        if (close.status === 'succeeded' && close.mode === 'full' && assessment.complete && assessment.consistent) {
          deletions = await tx.$executeRaw`
            WITH listed AS MATERIALIZED (
              SELECT DISTINCT id FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${close.runId}
            )
            UPDATE accounts a SET deleted_at = ${close.finishedAt}, last_sync_run_id = ${close.runId}
            WHERE a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.id = a.id)`;
        }
        const totals: RunTotals = {
          pages: pages.length,
          accountsSeen: distinct,
          inserted: sums?.inserted ?? 0,
          updated: sums?.updated ?? 0,
          unchanged: Math.max(0, (sums?.unchanged ?? 0) - repeats),
          statusChanges: sums?.status_changes ?? 0,
          deletions,
          rejected: sums?.rejected ?? 0,
          retries: sums?.retries ?? 0,
        };
        const totalCount = pages[0]?.totalCount ?? null;
        await tx.syncRun.update({
          where: { id: close.runId },
          data: {
            status: close.status,
            finishedAt: close.finishedAt,
            pageSize: close.pageSize,
            totalCount,
            pages: totals.pages,
            accountsSeen: totals.accountsSeen,
            accountsInserted: totals.inserted,
            accountsUpdated: totals.updated,
            accountsUnchanged: totals.unchanged,
            statusChanges: totals.statusChanges,
            deletions: totals.deletions,
            rejectedRecords: totals.rejected,
            retries: totals.retries,
            walkComplete: assessment.complete,
            walkConsistent: assessment.consistent,
            inconsistencies: assessment.reasons,
            errorCode: close.error?.code ?? null,
            error: close.error?.message ?? null,
          },
        });

        // An interrupted run keeps its pages: the next start resumes it from them.
        if (close.status !== 'interrupted') {
          await tx.$executeRaw`DELETE FROM sync_run_pages WHERE sync_run_id = ${close.runId}`;
        }
        return { totals, assessment, totalCount };
      },
      { maxWait: 30_000, timeout: 300_000 },
    ),
  );
}

/**
 * The mode a scheduled run should use: full when no full run has succeeded within
 * `fullIntervalMs` (only a full walk can see deletions), incremental otherwise.
 */
export async function scheduledMode(prisma: PrismaClient, fullIntervalMs: number, now: Date): Promise<RunMode> {
  const lastFull = await prisma.syncRun.findFirst({
    where: { status: 'succeeded', mode: 'full' },
    orderBy: { finishedAt: 'desc' },
    select: { startedAt: true },
  });
  return lastFull && now.getTime() - lastFull.startedAt.getTime() < fullIntervalMs ? 'incremental' : 'full';
}
