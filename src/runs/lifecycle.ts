// A run's life, and its only owner: a run is opened (or resumed where a stopped one left off),
// its pages are recorded as the sync commits them, its watermark and page size are set as the
// walk learns them, and it is finished in one transaction: its walk assessed, the accounts it no
// longer saw marked deleted when it may, its outcome recorded. This module is the only code that
// writes sync_runs and sync_run_pages (through sql/run-writes.ts and sql/page-writes.ts, which
// nothing else imports) or changes an OpenRun: the walk and the page writes ask it
// (test/architecture/run-owner.test.ts).
import type { Db, PrismaClient, RawStatements } from '../db/prisma.js';
import { markDeleted, markUnlistedDeleted } from '../mirror/deletion-marks.js';
import { withTransactionRetry } from '../db/transactions.js';
import { AccountSyncError } from '../errors.js';
import type { PageMeta, WalkAssessment } from './assessment.js';
import type { RunTotals } from './outcome.js';
import { clearPages, pruneFinishedRunPages, recordPages, recordPagesIfFingerprinted } from './sql/page-writes.js';
import {
  awaitPageWrites,
  committedPages,
  nextFreePageIndex,
  pageCount,
  type FingerprintedPage,
  type PageRecord,
  type PageRejection,
  type PageSums,
} from './sql/pages.js';
import { addHealRequests, insertRun, markResumed, recordRunEnd, reopenRun, setPageSize, setWatermark } from './sql/run-writes.js';
import { lastFullRunStart, lastRunIncomplete, lastWatermark, runSince, type RunMode, type RunStatus } from './sql/runs.js';
import { assessRunWalk, mayMarkDeletions, type RunWalk } from './walk-verdict.js';

export type { RunWalk };

/** A run as its owner keeps it; everyone else sees it as an OpenRun, read-only. */
interface RunState {
  runId: bigint;
  mode: RunMode;
  startedAt: Date;
  pageSize: number;
  /** Records consecutive pages of its walk share (SYNC_PAGE_OVERLAP when it began). */
  pageOverlap: number;
  /** Windows earlier attempts fetched to close gaps (SYNC_MAX_HEAL_REQUESTS bounds the run's). */
  healRequests: number;
  /** Incremental runs: the updated_at they walk back to. */
  since: string | null;
  /** The newest updated_at Upvest listed when the run began, once known. */
  watermark: string | null;
  /** Pages committed by earlier attempts of this run (empty for a new run). */
  donePages: PageMeta[];
  /**
   * The first page index no earlier attempt used, catch-up pages included: where a resumed
   * run numbers the pages it adds after its walk, and an incremental run its walk.
   */
  nextFreeIndex: number;
}

/** A run as the sync works on it: changed only through this module's functions. */
export type OpenRun = Readonly<RunState>;

/**
 * Opens a new run. An incremental run reaches back to the last successful run's watermark
 * less `incrementalLagMs`; with no successful run yet it becomes a full run.
 */
export async function openRun(
  prisma: PrismaClient,
  options: { mode: RunMode; pageSize: number; pageOverlap: number; startedAt: Date; incrementalLagMs: number },
): Promise<OpenRun> {
  await pruneFinishedRunPages(prisma);
  // After a run that could not prove it listed everything, only a full walk can.
  const since = options.mode === 'incremental' && !(await lastRunIncomplete(prisma)) ? await lastWatermark(prisma, options.incrementalLagMs) : null;
  const mode = since === null ? 'full' : options.mode;
  const runId = await insertRun(prisma, { mode, pageSize: options.pageSize, pageOverlap: options.pageOverlap, startedAt: options.startedAt, since });
  return {
    runId,
    mode,
    startedAt: options.startedAt,
    pageSize: options.pageSize,
    pageOverlap: options.pageOverlap,
    healRequests: 0,
    since,
    watermark: null,
    donePages: [],
    nextFreeIndex: 0,
  };
}

/** Sets a run left `running` or `interrupted` going again, with what it had committed. */
export async function resumeRun(prisma: PrismaClient, runId: bigint): Promise<OpenRun> {
  const run = await reopenRun(prisma, runId);
  if (!run) {
    throw new AccountSyncError('SYNC_NOT_RESUMABLE', `sync run ${runId} is not running or interrupted: only such a run can be resumed`);
  }
  if (run.pageOverlap === null) {
    throw new AccountSyncError('SYNC_NOT_RESUMABLE', `sync run ${runId} was begun by an earlier release, whose pages keep no keys`);
  }
  // The process that left it may have been killed with a page's COMMIT on the way.
  await awaitPageWrites(prisma, runId);
  return {
    runId,
    ...run,
    pageOverlap: run.pageOverlap,
    donePages: await committedPages(prisma, runId),
    nextFreeIndex: await nextFreePageIndex(prisma, runId),
  };
}

/** Counts a resumption of the run (sync_runs.resumes, resumed_at); how many there have been. */
export async function countResumption(db: Db, runId: bigint, at: Date): Promise<number> {
  return markResumed(db, runId, at);
}

/** The newest updated_at Upvest listed when the run began: where the next incremental run goes back to. */
export async function setRunWatermark(db: Db, run: OpenRun, watermark: string): Promise<void> {
  (run as RunState).watermark = watermark;
  await setWatermark(db, run.runId, watermark);
}

/** The server serves fewer per page than asked: a resumed run must walk the same layout. */
export async function setRunPageSize(db: Db, run: OpenRun, pageSize: number): Promise<void> {
  (run as RunState).pageSize = pageSize;
  await setPageSize(db, run.runId, pageSize);
}

/** The page size the walk ended with; the run's row takes it when the run is finished. */
export function adoptWalkPageSize(run: OpenRun, pageSize: number): void {
  (run as RunState).pageSize = pageSize;
}

/** In the transaction writing them: the pages' bookkeeping rows and their rejected records. */
export async function recordRunPages(db: RawStatements, pages: ReadonlyArray<PageRecord>, rejected: ReadonlyArray<PageRejection>): Promise<void> {
  await recordPages(db, pages, rejected);
}

/**
 * Records, without writing their accounts, the pages a full run last wrote exactly as they are
 * served now (see sync_page_fingerprints); the indexes of those it recorded.
 */
export async function recordRecognisedPages(db: Db, pages: ReadonlyArray<FingerprintedPage>): Promise<Set<number>> {
  return recordPagesIfFingerprinted(db, pages);
}

/**
 * The mode a scheduled run should use: full when no full run has succeeded within
 * `fullIntervalMs` (only a full walk can see deletions), incremental otherwise.
 */
export async function scheduledMode(db: Db, fullIntervalMs: number, now: Date): Promise<RunMode> {
  const lastFull = await lastFullRunStart(db);
  return lastFull && now.getTime() - lastFull.getTime() < fullIntervalMs ? 'incremental' : 'full';
}

/** What the run settles about deletions, decided by the sync before it finishes the run. */
export type DeletionDecision =
  /** Every live account no page of the run lists: after a complete, consistent walk of the whole list. */
  | { kind: 'unlisted' }
  /** These accounts, each found gone one by one; `incomplete` says why others may remain. */
  | { kind: 'ids'; ids: string[]; incomplete?: string }
  /** None; `note` says why (null when the run did not get that far). */
  | { kind: 'none'; note: string | null };

export interface RunClose {
  runId: bigint;
  mode: RunMode;
  status: Exclude<RunStatus, 'running'>;
  pageSize: number;
  finishedAt: Date;
  /** Windows this attempt fetched to close gaps (added to the run's count). */
  healRequests?: number;
  /** SYNC_INCREMENTAL_LAG_MS, by which an incremental run's `since` reaches back (default 60 s). */
  incrementalLagMs?: number;
  /** Whether the walk ran to its end without an error. */
  walkFinished: boolean;
  error: { code: string; message: string } | null;
  deletions: DeletionDecision;
  /**
   * The walk as assessed after its last page (to decide deletions), if the run got that far:
   * reused when no page was committed since, rather than summing a million ids again.
   */
  assessed?: RunWalk;
}

export interface ClosedRun {
  totals: RunTotals;
  /** Windows every attempt of the run fetched to close gaps. */
  healRequests: number;
  assessment: WalkAssessment;
  totalCount: number | null;
  deletionsComplete: boolean | null;
  deletionsNote: string | null;
}

/** Finishes a run in one transaction: assess its walk, mark deletions if it may, record the outcome. */
export async function finishRun(prisma: PrismaClient, close: RunClose): Promise<ClosedRun> {
  return withTransactionRetry(() =>
    prisma.$transaction(
      async (tx) => {
        const walk =
          close.assessed && close.walkFinished && (await pageCount(tx, close.runId)) === close.assessed.pageCount
            ? close.assessed
            : await assessRunWalk(tx, { ...close, since: await runSince(tx, close.runId), lagMs: close.incrementalLagMs ?? 60_000 });
        const decision = settleDecision(close, walk.assessment);
        const deletions =
          decision.kind === 'unlisted'
            ? walk.unlisted === 0
              ? 0
              : await markUnlistedDeleted(tx, close.runId, close.finishedAt)
            : decision.kind === 'ids'
              ? await markDeleted(tx, close.runId, decision.ids, close.finishedAt)
              : 0;
        const closed: ClosedRun = {
          totals: totalsOf(walk.pageCount, walk.sums, deletions),
          healRequests: await addHealRequests(tx, close.runId, close.healRequests ?? 0),
          assessment: walk.assessment,
          totalCount: walk.pages[0]?.totalCount ?? null,
          deletionsComplete:
            decision.kind === 'none' ? (decision.note === null ? null : false) : decision.kind === 'ids' ? !decision.incomplete : true,
          deletionsNote: decision.kind === 'none' ? decision.note : decision.kind === 'ids' ? (decision.incomplete ?? null) : null,
        };
        await recordOutcome(tx, close, closed);
        return closed;
      },
      { maxWait: 30_000, timeout: 300_000 },
    ),
  );
}

/** The decision as it stands once the walk's verdict is read again inside the closing transaction. */
function settleDecision(close: RunClose, assessment: WalkAssessment): DeletionDecision {
  if (close.status !== 'succeeded') return { kind: 'none', note: null };
  if (close.deletions.kind === 'unlisted' && !mayMarkDeletions(close, assessment)) {
    return { kind: 'none', note: 'the walk was not complete and consistent' };
  }
  return close.deletions;
}

function totalsOf(pages: number, sums: PageSums, deletions: number): RunTotals {
  const repeats = sums.listed - sums.distinctIds;
  return {
    pages,
    accountsSeen: sums.distinctIds,
    inserted: sums.inserted,
    updated: sums.updated,
    unchanged: Math.max(0, sums.unchanged - repeats),
    statusChanges: sums.statusChanges,
    deletions,
    rejected: sums.rejected,
    retries: sums.retries,
  };
}

/** The run's row, and its page bookkeeping gone unless it is to be resumed. */
export async function recordOutcome(db: Db, close: RunClose, closed: ClosedRun): Promise<void> {
  await recordRunEnd(db, {
    runId: close.runId,
    status: close.status,
    finishedAt: close.finishedAt,
    pageSize: close.pageSize,
    totalCount: closed.totalCount,
    totals: closed.totals,
    walkComplete: closed.assessment.complete,
    walkConsistent: closed.assessment.consistent,
    inconsistencies: closed.assessment.reasons,
    error: close.error,
    deletionsComplete: closed.deletionsComplete,
    deletionsNote: closed.deletionsNote,
  });
  // An interrupted run keeps its pages: the next start resumes it from them.
  if (close.status !== 'interrupted') await clearPages(db, close.runId);
}
