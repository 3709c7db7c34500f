// One sync run, in steps: open it (or resume it where a stopped one left off), walk the pages
// (each validated and committed as it arrives), then finish it: assess the walk, mark the
// accounts no longer listed deleted when it may, record the outcome. Upstream failures end the
// run as failed (recorded, and returned); only an unreachable database escapes as an exception.
//
// A full run walks the whole list oldest-first and is the only kind that may mark accounts
// deleted. An incremental run walks newest-first and stops at the previous run's watermark.
import type { PrismaClient } from '../db/prisma.js';
import { AccountSyncError, errorCodeOf, oneLineMessage, type ErrorCode } from '../errors.js';
import { redactText, type Logger } from '../logger.js';
import { finishRun, openRun, resumeRun, type OpenRun } from '../runs/lifecycle.js';
import type { RunSummary } from '../runs/outcome.js';
import { setWatermark, type RunMode } from '../runs/sql/runs.js';
import type { UpvestClient } from '../upvest/client.js';
import { createPageWriter } from './page-writer.js';
import { progressOf, type SyncProgress } from './progress.js';
import { refreshStatistics } from './statistics.js';
import { toMicros } from './timestamps.js';
import { newestUpdate, walkNewestFirst, walkPages, type FetchedPage } from './walk.js';

export type { RunSummary, SyncProgress };

export interface SyncDeps {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  now?: () => Date;
  onProgress?: (progress: SyncProgress) => void;
  signal?: AbortSignal;
  /**
   * Scrubs secrets (the settings' and every access token received) from text the run stores:
   * its error, and what it keeps of rejected records. Applied before anything is written.
   */
  redact?: (text: string) => string;
}

export interface SyncOptions {
  pageSize: number;
  concurrency: number;
  /** SYNC_MAX_PAGES: no walk fetches more pages than this. */
  maxPages: number;
  /** Default 'full'. 'incremental' falls back to a full run when no run has succeeded yet. */
  mode?: RunMode;
  /** Recognise pages served exactly as when last written, and skip writing them (default true). */
  skipUnchangedPages?: boolean;
  /** Incremental runs reach back this far before the previous watermark (Upvest-side lag). */
  incrementalLagMs?: number;
  /**
   * Continue this run (left `running` or `interrupted`) from its last committed page instead of
   * starting a new run at page one.
   */
  resumeRunId?: bigint;
}

export async function runSync(deps: SyncDeps, options: SyncOptions): Promise<RunSummary> {
  const now = deps.now ?? (() => new Date());
  const redact = deps.redact ?? ((text: string) => text);
  const run =
    options.resumeRunId === undefined
      ? await openRun(deps.prisma, {
          mode: options.mode ?? 'full',
          pageSize: options.pageSize,
          startedAt: now(),
          incrementalLagMs: options.incrementalLagMs ?? 60_000,
        })
      : await resumeRun(deps.prisma, options.resumeRunId);
  const logger = deps.logger.child({ runId: String(run.runId) });
  logger.info(
    { mode: run.mode, pageSize: run.pageSize, concurrency: options.concurrency, since: run.since, resumedPages: run.donePages.length },
    options.resumeRunId === undefined ? 'sync run started' : 'sync run resumed',
  );

  const fingerprinting = run.mode === 'full' && options.skipUnchangedPages !== false;
  const writePage = createPageWriter({ prisma: deps.prisma, logger, now, redact }, run, fingerprinting);
  const progress = progressOf(run, deps.onProgress);
  const failure = await walkRun(deps, run, options, async (fetched) => {
    await writePage(fetched);
    progress.pageDone(fetched);
  });
  return finish(deps, run, failure, { logger, now, redact });
}

/** Walks the run's pages to the end of its walk; what stopped it, if anything. */
async function walkRun(
  deps: SyncDeps,
  run: OpenRun,
  options: SyncOptions,
  handle: (page: FetchedPage) => Promise<void>,
): Promise<unknown> {
  try {
    if (run.mode === 'full') {
      // Taken before the walk: whatever changes while it runs is newer, and the next
      // incremental run goes back to here.
      if (run.watermark === null) {
        run.watermark = await newestUpdate(deps.client, deps.signal);
        if (run.watermark !== null) await setWatermark(deps.prisma, run.runId, run.watermark);
      }
      const walked = await walkPages(
        deps.client,
        { limit: run.pageSize, concurrency: options.concurrency, maxPages: options.maxPages, signal: deps.signal, done: run.donePages },
        handle,
      );
      run.pageSize = walked.limit;
    } else {
      const sinceMicros = run.since === null ? undefined : toMicros(run.since);
      if (sinceMicros === undefined) {
        throw new AccountSyncError('SYNC_NOT_RESUMABLE', `incremental run ${run.runId} has no usable watermark`);
      }
      // An interrupted incremental run starts its walk again: it is short, and offsets in a
      // newest-first list move with every change.
      const walked = await walkNewestFirst(
        deps.client,
        { limit: run.pageSize, maxPages: options.maxPages, sinceMicros, signal: deps.signal, firstIndex: nextIndex(run) },
        handle,
      );
      run.pageSize = walked.limit;
    }
    return undefined;
  } catch (error) {
    return error;
  }
}

/** Assesses the walk, marks deletions when it may, records the outcome: the run's summary. */
async function finish(
  deps: SyncDeps,
  run: OpenRun,
  failure: unknown,
  context: { logger: Logger; now: () => Date; redact: (text: string) => string },
): Promise<RunSummary> {
  const finishedAt = context.now();
  const stopped = failure !== undefined && deps.signal?.aborted === true;
  // A run that ran out of patience with a throttling server is not wrong, only early: like a
  // stopped one it keeps its pages, and the next attempt resumes it.
  const throttled = failure !== undefined && errorCodeOf(failure) === 'UPVEST_RATE_LIMITED';
  const status = failure === undefined ? 'succeeded' : stopped || throttled ? 'interrupted' : 'failed';
  const error: { code: ErrorCode; message: string } | null =
    failure === undefined
      ? null
      : stopped
        ? { code: 'SYNC_INTERRUPTED', message: `interrupted: ${oneLineMessage(deps.signal?.reason)}` }
        : { code: errorCodeOf(failure), message: context.redact(redactText(oneLineMessage(failure))) };
  const closed = await finishRun(deps.prisma, {
    runId: run.runId,
    mode: run.mode,
    status,
    pageSize: run.pageSize,
    finishedAt,
    walkFinished: failure === undefined,
    error,
  });
  await refreshStatistics(deps.prisma, closed.totals, context.logger);
  const summary: RunSummary = {
    runId: run.runId,
    status,
    mode: run.mode,
    startedAt: run.startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - run.startedAt.getTime(),
    totalCount: closed.totalCount,
    ...closed.totals,
    walkComplete: closed.assessment.complete,
    walkConsistent: closed.assessment.consistent,
    inconsistencies: closed.assessment.reasons,
    errorCode: error?.code ?? null,
    error: error?.message ?? null,
  };
  context.logger[status === 'succeeded' ? 'info' : 'error']({ ...summary, runId: String(run.runId) }, `sync run ${status}`);
  return summary;
}

function nextIndex(run: OpenRun): number {
  return run.donePages.reduce((next, page) => Math.max(next, page.index + 1), 0);
}
