// A run's walk: the pages of its layout (oldest first for a full run, newest first for an
// incremental one), then a return for what the overlaps could not prove (heal.ts), then the
// indexes a first sync deferred. What stopped it is returned, not thrown.
import type { Logger } from '../logger.js';
import { adoptWalkPageSize, setRunWatermark, type OpenRun } from '../runs/lifecycle.js';
import { AccountSyncError } from '../errors.js';
import { buildDeferredIndexes } from './deferred-indexes.js';
import { restoreForeignKeys } from './deferred-keys.js';
import { healGaps, type CoverageScope } from './heal.js';
import type { PageWriter } from './page-writer.js';
import type { RunPages } from './run-pages.js';
import type { RunWith, SyncDeps } from './run.js';
import { toMicros } from '../mirror/timestamps.js';
import { newestUpdate, walkNewestFirst, walkPages, type FetchedPage, type WalkOptions } from './walk.js';

/** Walks, heals the gaps, builds deferred indexes: what stopped the run, if anything. */
export async function walkAndHeal(deps: SyncDeps, run: OpenRun, options: RunWith, pages: RunPages, logger: Logger): Promise<unknown> {
  // The pages fetched are written, whatever stopped the walk: a resumed run need not fetch them again.
  let failure = await settled(walkRun(deps, run, { ...options, recognise: pages.recognise }, pages.queue('walk')), pages.writer);
  if (failure === undefined) {
    pages.heal.maxLimit = run.pageSize;
    const upvest = { prisma: deps.prisma, client: deps.client, logger, signal: deps.signal };
    failure = await failureOf(healGaps(upvest, walkScope(run, options.incrementalLagMs), pages.heal, pages.committed('heal')));
  }
  if (pages.deferral.dropped > 0 || pages.deferral.keys > 0) {
    // Once the walk is over: the catch-up pass and the deletions write as upserts, and read.
    // Whatever stopped the walk, the pages it committed are checked now: the keys are back
    // before the run ends, or the next run puts them back first.
    try {
      await buildDeferredIndexes(deps.prisma, logger);
      await restoreForeignKeys(deps.prisma, run.runId, logger);
    } catch (error) {
      failure ??= error;
    }
  }
  return failure;
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
