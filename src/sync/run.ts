// One sync run, in steps: open it (or resume it where a stopped one left off), walk the pages
// (each validated and committed as it arrives), go back for whatever the walk may have stepped
// over (heal.ts), catch up newest first with what changed meanwhile, settle deletions, then
// finish it: assess the walk, mark the accounts gone deleted, record the outcome. Upstream
// failures end the run as failed (recorded, and returned), a walk that cannot prove it listed
// every account as incomplete; only an unreachable database escapes as an exception.
//
// A full run walks the whole list oldest-first and is the only kind that may mark accounts
// deleted. An incremental run walks newest-first and stops at the previous run's watermark.
import { withRunDefaults, type RunOptions } from '../config/sync.js';
import { pgPoolOf, type PrismaClient } from '../db/prisma.js';
import { databaseErrorCodeOf } from '../db/transactions.js';
import { AccountSyncError, errorCodeOf, oneLineMessage, type ErrorCode } from '../errors.js';
import { redactText, type Logger } from '../logger.js';
import { adoptWalkPageSize, finishRun, openRun, resumeRun, setRunWatermark, type DeletionDecision, type OpenRun } from '../runs/lifecycle.js';
import type { RunSummary } from '../runs/outcome.js';
import { knownPages, lastCatchUpPass, walkTailIds, type KnownPage, type PageKind } from '../runs/sql/pages.js';
import type { RunMode } from '../runs/sql/runs.js';
import { assessRunWalk, type RunWalk } from '../runs/walk-verdict.js';
import type { UpvestClient } from '../upvest/client.js';
import { usableIdOf } from '../upvest/schema.js';
import { mirrorWrittenOnlyBy } from './bulk-load.js';
import { catchUp } from './catch-up.js';
import { buildDeferredIndexes, deferIndexes } from './deferred-indexes.js';
import { decideDeletions } from './deletions.js';
import { healGaps, type CoverageScope, type HealOptions } from './heal.js';
import { createPageWriter, type PageWriter } from './page-writer.js';
import { progressOf, type SyncProgress } from './progress.js';
import { refreshStatistics } from './statistics.js';
import { toMicros } from './timestamps.js';
import { newestUpdate, walkNewestFirst, walkPages, type FetchedPage, type WalkOptions } from './walk.js';

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

/**
 * What runSync is given: a run's options (RunOptions, src/config/sync.ts), those left out or
 * undefined taking the settings' defaults, and which run this is.
 */
export type SyncOptions = Pick<RunOptions, 'pageSize' | 'concurrency' | 'maxPages'> &
  Partial<RunOptions> & {
    /** Default 'full'. 'incremental' falls back to a full run when no run has succeeded yet. */
    mode?: RunMode;
    /**
     * Continue this run (left `running` or `interrupted`) from its last committed page instead of
     * starting a new run at page one.
     */
    resumeRunId?: bigint;
  };

/** The options runSync works with: every one of a run's options, and which run this is. */
type RunWith = RunOptions & { mode?: RunMode; resumeRunId?: bigint };

export async function runSync(deps: SyncDeps, given: SyncOptions): Promise<RunSummary> {
  const options: RunWith = withRunDefaults(given);
  const now = deps.now ?? (() => new Date());
  const redact = deps.redact ?? ((text: string) => text);
  const run =
    options.resumeRunId === undefined
      ? await openRun(deps.prisma, {
          mode: options.mode ?? 'full',
          pageSize: options.pageSize,
          pageOverlap: options.pageOverlap,
          startedAt: now(),
          incrementalLagMs: options.incrementalLagMs,
        })
      : await resumeRun(deps.prisma, options.resumeRunId);
  const logger = deps.logger.child({ runId: String(run.runId) });
  logger.info(
    { mode: run.mode, pageSize: run.pageSize, concurrency: options.concurrency, since: run.since, resumedPages: run.donePages.length },
    options.resumeRunId === undefined ? 'sync run started' : 'sync run resumed',
  );

  const progress = progressOf(run, deps.onProgress);
  const pool = pgPoolOf(deps.prisma);
  // What a first sync killed while loading left unbuilt is built before anything else.
  await buildDeferredIndexes(deps.prisma, logger);
  const bulkLoad = pool !== undefined && run.mode === 'full' && options.bulkLoad && (await mirrorWrittenOnlyBy(deps.prisma, run.runId));
  // Decided on page one's total_count, before anything of it is written.
  const deferral = { pending: bulkLoad && options.resumeRunId === undefined, dropped: 0 };
  const fingerprinting = run.mode === 'full' && options.skipUnchangedPages;
  const knownLimit = run.pageSize;
  const known = fingerprinting ? await knownPages(deps.prisma, knownLimit, MAX_KNOWN_PAGES) : new Map<number, KnownPage>();
  const writer = createPageWriter(
    { prisma: deps.prisma, logger, now, redact, pool },
    run,
    {
      fingerprinting,
      bulkLoad,
      writers: Math.min(WRITERS, options.concurrency),
      ...batchBounds(run.pageSize, options.concurrency),
      onCommitted: (pages) => pages.forEach((page) => progress.pageDone(page)),
      committedTails: await walkTailIds(deps.prisma, run.runId, lastBeforeGaps(run.donePages), run.pageOverlap),
    },
  );
  let nextIndex = run.nextFreeIndex;
  const queue = (kind: PageKind, pass = 0) => async (fetched: FetchedPage) => {
    if (deferral.pending && kind === 'walk' && fetched.index === 0) {
      deferral.pending = false;
      if (fetched.totalCount >= options.deferIndexesFrom) deferral.dropped = await deferIndexes(deps.prisma, run.runId, logger);
    }
    nextIndex = Math.max(nextIndex, fetched.index + 1);
    await writer.write(fetched, kind, pass);
  };
  const committed = (kind: PageKind, pass = 0) => async (fetched: FetchedPage) => {
    await queue(kind, pass)(fetched);
    await writer.flush();
  };
  const heal: HealOptions = {
    maxLimit: run.pageSize,
    // Per run: what earlier attempts spent counts.
    budget: { remaining: Math.max(0, options.maxHealRequests - run.healRequests), used: 0 },
    nextIndex: () => nextIndex++,
  };
  const healDeps = { prisma: deps.prisma, client: deps.client, logger, signal: deps.signal };

  // The pages fetched are written, whatever stopped the walk: a resumed run need not fetch them again.
  const recognise = (offset: number, limit: number, digest: string) => {
    // Only pages of the size the fingerprints were loaded for: the served size may differ.
    const page = limit === knownLimit ? known.get(offset) : undefined;
    return page?.digest === digest ? page : undefined;
  };
  let failure = await settled(walkRun(deps, run, { ...options, recognise: known.size > 0 ? recognise : undefined }, queue('walk')), writer);
  if (failure === undefined) {
    heal.maxLimit = run.pageSize;
    failure = await failureOf(healGaps(healDeps, walkScope(run, lagMs(options)), heal, committed('heal')));
  }
  if (deferral.dropped > 0) {
    // Once the walk is over: the catch-up pass and the deletions write as upserts, and read.
    try {
      await buildDeferredIndexes(deps.prisma, logger);
    } catch (error) {
      failure ??= error;
    }
  }
  let deletions: DeletionDecision = { kind: 'none', note: null };
  let assessed: RunWalk | undefined;
  if (failure === undefined) {
    try {
      await catchUp(
        healDeps,
        run,
        {
          maxPages: options.maxPages,
          lagMs: options.incrementalLagMs,
          overlap: run.pageOverlap,
          firstPass: (await lastCatchUpPass(deps.prisma, run.runId)) + 1,
          heal,
        },
        (page, pass) => queue('catch_up', pass)(page),
        () => writer.flush(),
      );
      await writer.flush();
      const walk = await assessRunWalk(deps.prisma, { runId: run.runId, mode: run.mode, since: run.since, lagMs: lagMs(options), walkFinished: true });
      // What healGaps proved, judged once more from what was committed: never succeed without it.
      if (!walk.consistentWalk) {
        throw new AccountSyncError('SYNC_WALK_UNPROVEN', `the walk cannot prove it listed every account: ${walk.assessment.reasons.join('; ')}`);
      }
      assessed = walk;
      deletions = await decideDeletions(
        { prisma: deps.prisma, client: deps.client, logger, signal: deps.signal },
        { runId: run.runId, mode: run.mode },
        walk,
        { maxChecks: options.maxDeletionChecks },
        async (records) => committed('lookup')(foundPage(nextIndex++, records)),
      );
    } catch (error) {
      failure = error;
    }
  }
  return finish(
    deps,
    run,
    failure,
    { deletions, assessed: failure === undefined ? assessed : undefined, healRequests: heal.budget.used, incrementalLagMs: lagMs(options) },
    { logger, now, redact },
  );
}

/**
 * What the run's walk must prove: the whole list oldest first, or newest first every account
 * updated after the watermark its `since` reaches back from by the lag.
 */
function walkScope(run: OpenRun, lag: number): CoverageScope {
  if (run.mode === 'full') return { runId: run.runId, pass: 0, sort: 'created_at', order: 'ASC' };
  const since = toMicros(run.since ?? '') ?? 0n;
  return { runId: run.runId, pass: 0, sort: 'updated_at', order: 'DESC', newerThanMicros: since + BigInt(lag) * 1000n };
}

const lagMs = (options: RunWith) => options.incrementalLagMs;

/** Pages committed by earlier attempts that this attempt's next page follows. */
function lastBeforeGaps(done: ReadonlyArray<{ index: number }>): number[] {
  const indices = new Set(done.map((page) => page.index));
  return [...indices].filter((index) => !indices.has(index + 1));
}

async function failureOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
    return undefined;
  } catch (error) {
    return error;
  }
}

/**
 * Fingerprints a run holds in memory to recognise pages before decoding them (about 250 bytes
 * each: 1,000,000 accounts in pages of 50). Past it, pages are decoded and recognised in
 * PostgreSQL as before.
 */
const MAX_KNOWN_PAGES = 20_000;

/** Transactions writing pages at once: enough to keep PostgreSQL's cores busy. */
const WRITERS = 2;

/**
 * How many accounts a transaction takes (whole pages: at least one), and how many pages may be
 * fetched and not yet committed. SYNC_CONCURRENCY pages of 1000 accounts' worth: small pages are
 * written many at a time, and memory stays as it was with one page per transaction. A thousand
 * accounts a transaction: two thousand were about 3% faster on a first sync, and 15-25 MB more
 * at the peak, which the worker cannot spare under 200 MB. With a concurrency of 1, one page
 * at a time, fetched then written.
 */
export function batchBounds(pageSize: number, concurrency: number): { maxBatchAccounts: number; maxQueuedPages: number } {
  const pagesPerThousand = Math.max(1, Math.floor(1_000 / pageSize));
  return {
    maxBatchAccounts: Math.max(pageSize, 1_000),
    maxQueuedPages: concurrency === 1 ? 1 : concurrency * pagesPerThousand,
  };
}

/** What stopped the walk, once every page it queued is committed (or what failed writing them). */
async function settled(walk: Promise<unknown>, writer: PageWriter): Promise<unknown> {
  const failure = await walk;
  try {
    await writer.flush();
  } catch (error) {
    return failure ?? error;
  }
  return failure;
}

/** Accounts found one by one, as a page of the run (they count as listed). */
function foundPage(index: number, records: unknown[]): FetchedPage {
  const ids = records.map((record) => usableIdOf(record));
  return {
    index,
    offset: 0,
    limit: records.length,
    count: records.length,
    totalCount: 0,
    firstId: ids[0] ?? null,
    lastId: ids[ids.length - 1] ?? null,
    page: { meta: { offset: 0, limit: records.length, count: records.length, total_count: 0 }, data: records, requestId: undefined, digest: '', retries: 0 },
  };
}

/** Walks the run's pages to the end of its walk; what stopped it, if anything. */
async function walkRun(
  deps: SyncDeps,
  run: OpenRun,
  options: RunWith & Pick<WalkOptions, 'recognise'>,
  handle: (page: FetchedPage) => Promise<void>,
): Promise<unknown> {
  try {
    if (run.mode === 'full') {
      // Taken before the walk: whatever changes while it runs is newer, and the next
      // incremental run goes back to here.
      if (run.watermark === null) {
        const watermark = await newestUpdate(deps.client, deps.signal);
        if (watermark !== null) await setRunWatermark(deps.prisma, run, watermark);
      }
      const walked = await walkPages(
        deps.client,
        {
          limit: run.pageSize,
          overlap: run.pageOverlap,
          concurrency: options.concurrency,
          maxPages: options.maxPages,
          signal: deps.signal,
          done: run.donePages,
          recognise: options.recognise,
        },
        handle,
      );
      adoptWalkPageSize(run, walked.limit);
    } else {
      const sinceMicros = run.since === null ? undefined : toMicros(run.since);
      if (sinceMicros === undefined) {
        throw new AccountSyncError('SYNC_NOT_RESUMABLE', `incremental run ${run.runId} has no usable watermark`);
      }
      // An interrupted incremental run starts its walk again: it is short, and offsets in a
      // newest-first list move with every change.
      const walked = await walkNewestFirst(
        deps.client,
        { limit: run.pageSize, overlap: run.pageOverlap, maxPages: options.maxPages, sinceMicros, signal: deps.signal, firstIndex: run.nextFreeIndex },
        handle,
      );
      adoptWalkPageSize(run, walked.limit);
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
  settled: { deletions: DeletionDecision; assessed: RunWalk | undefined; healRequests: number; incrementalLagMs: number },
  context: { logger: Logger; now: () => Date; redact: (text: string) => string },
): Promise<RunSummary> {
  const finishedAt = context.now();
  const stopped = failure !== undefined && deps.signal?.aborted === true;
  // A run that ran out of patience with a throttling server is not wrong, only early: like a
  // stopped one it keeps its pages, and the next attempt resumes it.
  const throttled = failure !== undefined && errorCodeOf(failure) === 'UPVEST_RATE_LIMITED';
  const status: RunSummary['status'] =
    failure === undefined
      ? 'succeeded'
      : stopped || throttled
        ? 'interrupted'
        : errorCodeOf(failure) === 'SYNC_WALK_UNPROVEN'
          ? 'incomplete'
          : 'failed';
  const error: { code: ErrorCode; message: string } | null =
    failure === undefined
      ? null
      : stopped
        ? { code: 'SYNC_INTERRUPTED', message: `interrupted: ${oneLineMessage(deps.signal?.reason)}` }
        : { code: failureCodeOf(failure), message: context.redact(redactText(oneLineMessage(failure))) };
  const closed = await finishRun(deps.prisma, {
    runId: run.runId,
    mode: run.mode,
    status,
    pageSize: run.pageSize,
    finishedAt,
    walkFinished: failure === undefined,
    error,
    ...settled,
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
    deletionsComplete: closed.deletionsComplete,
    deletionsNote: closed.deletionsNote,
    healRequests: closed.healRequests,
    errorCode: error?.code ?? null,
    error: error?.message ?? null,
  };
  context.logger[status === 'succeeded' ? 'info' : 'error']({ ...summary, runId: String(run.runId) }, `sync run ${status}`);
  return summary;
}

/** A typed error's code; an untyped one from the database is DB_UNAVAILABLE or DB_ERROR. */
function failureCodeOf(failure: unknown): ErrorCode {
  const code = errorCodeOf(failure);
  return code === 'UNKNOWN' ? (databaseErrorCodeOf(failure) ?? 'UNKNOWN') : code;
}
