// How one run's pages reach the database: the page writer, set up for the run (COPY or upserts,
// fingerprints, deferred indexes), and the callbacks the walk, the heal, the catch-up pass and
// the lookups hand their pages to.
import { pgPoolOf } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { OpenRun } from '../runs/lifecycle.js';
import { knownPages, type KnownPage } from '../runs/sql/fingerprints.js';
import { walkTailIds, type PageKind } from '../runs/sql/pages.js';
import { usableIdOf } from '../upvest/schema.js';
import { mirrorWrittenOnlyBy } from '../mirror/bulk-load.js';
import { buildDeferredIndexes, deferIndexes } from './deferred-indexes.js';
import { deferForeignKeys, restoreForeignKeys } from './deferred-keys.js';
import type { HealOptions } from './heal.js';
import { createPageWriter, type PageWriter } from './page-writer.js';
import { progressOf } from './progress.js';
import type { RunWith, SyncDeps } from './run.js';
import type { FetchedPage, WalkOptions } from './walk.js';

export interface RunPages {
  writer: PageWriter;
  /** Queues a page of this kind for writing; resolves once there is room for another. */
  queue(kind: PageKind, pass?: number): (fetched: FetchedPage) => Promise<void>;
  /** Queues a page and waits until it is committed. */
  committed(kind: PageKind, pass?: number): (fetched: FetchedPage) => Promise<void>;
  /** The heal's bounds and budget (per run: what earlier attempts spent counts). */
  heal: HealOptions;
  /** Pages served exactly as the last full run wrote them, when fingerprints were loaded. */
  recognise: WalkOptions['recognise'];
  /** Indexes and foreign keys dropped for a first sync, to be put back once its walk is over. */
  deferral: { pending: boolean; dropped: number; keys: number };
  /** The next page index nothing of the run used. */
  nextIndex(): number;
}

export async function pagesOf(
  deps: SyncDeps,
  run: OpenRun,
  options: RunWith,
  context: { logger: Logger; now: () => Date; redact: (text: string) => string },
): Promise<RunPages> {
  const { logger } = context;
  const progress = progressOf(run, deps.onProgress);
  const pool = pgPoolOf(deps.prisma);
  // What a first sync killed while loading left unbuilt is built before anything else, and the
  // foreign keys it dropped are restored and validated.
  await buildDeferredIndexes(deps.prisma, logger);
  await restoreForeignKeys(deps.prisma, run.runId, logger);
  const bulkLoad = pool !== undefined && run.mode === 'full' && options.bulkLoad && (await mirrorWrittenOnlyBy(deps.prisma, run.runId));
  // Decided on page one's total_count, before anything of it is written.
  const deferral = { pending: bulkLoad && options.resumeRunId === undefined, dropped: 0, keys: 0 };
  const fingerprinting = run.mode === 'full' && options.skipUnchangedPages;
  const knownLimit = run.pageSize;
  const known = fingerprinting ? await knownPages(deps.prisma, knownLimit, MAX_KNOWN_PAGES) : new Map<number, KnownPage>();
  const writer = createPageWriter({ prisma: deps.prisma, logger, now: context.now, redact: context.redact, pool }, run, {
    fingerprinting,
    bulkLoad,
    // Without the keys, a batch's users need not precede its links: see bulkLoadPages.
    usersApart: () => deferral.keys > 0,
    extraLimits: options.extraLimits,
    writers: Math.min(WRITERS, options.concurrency),
    ...batchBounds(run.pageSize, options.concurrency),
    onCommitted: (pages) => pages.forEach((page) => progress.pageDone(page)),
    committedTails: await walkTailIds(deps.prisma, run.runId, lastBeforeGaps(run.donePages), run.pageOverlap),
  });
  let nextIndex = run.nextFreeIndex;
  const queue = (kind: PageKind, pass = 0) => async (fetched: FetchedPage) => {
    if (deferral.pending && kind === 'walk' && fetched.index === 0) {
      deferral.pending = false;
      if (fetched.totalCount >= options.deferIndexesFrom) deferral.dropped = await deferIndexes(deps.prisma, run.runId, logger);
      // Whatever the size: validating keys in one pass costs less than checking row by row,
      // and without them no writer waits for another's users (see bulkLoadPages).
      deferral.keys = await deferForeignKeys(deps.prisma, run.runId, logger);
    }
    nextIndex = Math.max(nextIndex, fetched.index + 1);
    await writer.write(fetched, kind, pass);
  };
  const recognise = (offset: number, limit: number, digest: string) => {
    // Only pages of the size the fingerprints were loaded for: the served size may differ.
    const page = limit === knownLimit ? known.get(offset) : undefined;
    return page?.digest === digest ? page : undefined;
  };
  return {
    writer,
    queue,
    committed: (kind, pass = 0) => async (fetched) => {
      await queue(kind, pass)(fetched);
      await writer.flush();
    },
    heal: {
      maxLimit: run.pageSize,
      budget: { remaining: Math.max(0, options.maxHealRequests - run.healRequests), used: 0 },
      nextIndex: () => nextIndex++,
    },
    recognise: known.size > 0 ? recognise : undefined,
    deferral,
    nextIndex: () => nextIndex++,
  };
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

/** Pages committed by earlier attempts that this attempt's next page follows. */
function lastBeforeGaps(done: ReadonlyArray<{ index: number }>): number[] {
  const indices = new Set(done.map((page) => page.index));
  return [...indices].filter((index) => !indices.has(index + 1));
}

/** Accounts found one by one, as a page of the run (they count as listed). */
export function foundPage(index: number, records: unknown[]): FetchedPage {
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
