// What the sync does with the pages it fetched: queue them, and write them in batches, several
// pages per transaction when they arrive faster than they commit (fewer, larger statements: a
// first sync spends less per account, and small pages keep up with the request rate). Pages a
// full run last wrote exactly as they are served now are only recorded, without even being
// validated. The queue is bounded, so memory is too: fetching waits while it is full.
import type { Pool } from 'pg';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { recordRecognisedPages, setRunPageSize, setRunWatermark, type OpenRun } from '../runs/lifecycle.js';
import type { PageKind } from '../runs/sql/pages.js';
import type { ExtraLimits } from '../upvest/schema.js';
import { planOverlaps, recognisedCandidates, tailIdsOf, type Overlaps, type Queued } from './batch-plan.js';
import { bulkLoadPages } from './page-copy.js';
import { decidePage } from './page-decide.js';
import { writePages, type PageWrite } from './store.js';
import type { FetchedPage } from './walk.js';

export interface PageWriterDeps {
  prisma: PrismaClient;
  logger: Logger;
  now: () => Date;
  redact: (text: string) => string;
  /** Prisma's own pool, for loading new accounts by COPY (see bulk-load.ts). */
  pool?: Pool;
}

export interface PageWriterOptions {
  /** Recognise pages of the walk served as the last full run wrote them. */
  fingerprinting: boolean;
  /** Transactions under way at once. */
  writers: number;
  /** Accounts one transaction takes at most (a page is never split). */
  maxBatchAccounts: number;
  /** Pages fetched and not yet committed, at most; fetching waits beyond. */
  maxQueuedPages: number;
  /**
   * Try COPY first for pages of the walk: the accounts are likely new (a first sync). Tried
   * until it has had to give a batch to writePages BULK_LOAD_MISSES times.
   */
  bulkLoad: boolean;
  /**
   * Whether the mirror's foreign keys are dropped for now (a first sync into an empty mirror):
   * COPY batches then write their users after committing, in statements of their own.
   */
  usersApart?: () => boolean;
  /** Bounds on the fields the schema does not know (default DEFAULT_EXTRA_LIMITS). */
  extraLimits?: ExtraLimits;
  /** Pages just committed, in the order they were queued. */
  onCommitted: (pages: FetchedPage[]) => void;
  /** The ids earlier attempts' walk pages ended with, where this attempt's next page follows. */
  committedTails: ReadonlyMap<number, readonly string[]>;
}

export interface PageWriter {
  /**
   * Queues a page (of the walk's layout unless `kind` says otherwise; `pass`: a catch-up pass's
   * number); resolves once there is room for another.
   */
  write(page: FetchedPage, kind?: PageKind, pass?: number): Promise<void>;
  /** Resolves once every queued page is committed; rejects with the first failure. */
  flush(): Promise<void>;
}

/** Has the run's owner keep `run.pageSize` and `run.watermark` up to date as pages come in. */
export function createPageWriter(deps: PageWriterDeps, run: OpenRun, options: PageWriterOptions): PageWriter {
  const queue: Queued[] = [];
  /** Pages queued or being written. */
  let inFlight = 0;
  let active = 0;
  let failure: { error: unknown } | null = null;
  const roomWaiters: Array<() => void> = [];
  const overlaps: Overlaps = {
    size: run.pageOverlap,
    tailIds: new Map([...options.committedTails].map(([index, ids]) => [index, new Set(ids)])),
    keptHeadIds: new Map(),
  };
  const idleWaiters: Array<() => void> = [];
  const bulk = { pool: options.bulkLoad ? deps.pool : undefined, misses: 0, usersApart: options.usersApart ?? (() => false) };

  const wake = (waiters: Array<() => void>) => {
    for (const resolve of waiters.splice(0)) resolve();
  };
  const idle = () => queue.length === 0 && active === 0;

  const takeBatch = (): Queued[] => {
    const batch: Queued[] = [];
    let accounts = 0;
    while (queue.length > 0 && (batch.length === 0 || accounts + queue[0]!.page.count <= options.maxBatchAccounts)) {
      const next = queue.shift()!;
      accounts += next.page.count;
      batch.push(next);
    }
    return batch;
  };

  const drain = async () => {
    active += 1;
    try {
      while (!failure && queue.length > 0) {
        const batch = takeBatch();
        try {
          await writeBatch(deps, run, batch, { fingerprinting: options.fingerprinting, overlaps, bulk, extraLimits: options.extraLimits });
        } catch (error) {
          failure ??= { error };
        } finally {
          inFlight -= batch.length;
          wake(roomWaiters);
        }
        if (!failure) options.onCommitted(batch.map((q) => q.page));
      }
    } finally {
      active -= 1;
      if (idle() || failure) wake(idleWaiters);
    }
  };

  // A function, so that TypeScript does not take `failure` for settled across the awaits.
  const throwIfFailed = () => {
    if (failure) throw failure.error;
  };

  return {
    async write(page, kind = 'walk', pass = 0) {
      throwIfFailed();
      // A recognised page is only recorded, never written: the next page may write what they share.
      if (kind === 'walk' && !page.page.recognised) overlaps.tailIds.set(page.index, new Set(tailIdsOf(page.page.data, overlaps.size)));
      queue.push({ page, kind, pass });
      inFlight += 1;
      if (active < options.writers) void drain();
      // The caller fetches its next page only once there is room for it.
      while (!failure && inFlight >= options.maxQueuedPages) {
        await new Promise<void>((resolve) => roomWaiters.push(resolve));
      }
      throwIfFailed();
    },
    async flush() {
      while (!failure && !idle()) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      throwIfFailed();
    },
  };
}

/** One batch: plan it, record the pages served as last written, decide and write the others. */
async function writeBatch(
  deps: PageWriterDeps,
  run: OpenRun,
  batch: Queued[],
  context: { fingerprinting: boolean; overlaps: Overlaps; bulk: BulkState; extraLimits?: ExtraLimits },
): Promise<void> {
  const { leaveOut, sharesWithAnotherBatch } = planOverlaps(batch, context.overlaps);
  const recorded = await recordRecognisedPages(deps.prisma, context.fingerprinting ? recognisedCandidates(run, batch) : []);

  const writes: PageWrite[] = [];
  for (const queued of batch) {
    if (recorded.has(queued.page.index) && queued.kind === 'walk') continue;
    const { write, newest } = decidePage(deps, run, queued, leaveOut.get(queued.page.index), context);
    if (queued.kind === 'walk' && run.mode === 'incremental' && run.watermark === null && newest !== undefined) {
      // Newest first: the first account of the first page is the newest update listed.
      await setRunWatermark(deps.prisma, run, newest);
    }
    writes.push(write);
  }
  if (writes.length > 0 && (sharesWithAnotherBatch || !(await loadedInBulk(deps, context.bulk, writes)))) {
    await writePages(deps.prisma, writes);
  }

  const first = batch.find((q) => q.kind === 'walk' && q.page.index === 0);
  if (first && first.page.limit !== run.pageSize) {
    // The server serves fewer per page than asked; a resumed run must walk the same layout.
    await setRunPageSize(deps.prisma, run, first.page.limit);
  }
}

interface BulkState {
  pool: Pool | undefined;
  misses: number;
  usersApart: () => boolean;
}

/** After this many batches had a stored account or a refused record, a run stops trying COPY. */
const BULK_LOAD_MISSES = 3;

async function loadedInBulk(deps: PageWriterDeps, bulk: BulkState, writes: PageWrite[]): Promise<boolean> {
  if (!bulk.pool || bulk.misses >= BULK_LOAD_MISSES || writes.some((w) => w.kind !== 'walk')) return false;
  const result = await bulkLoadPages(bulk.pool, writes, { usersApart: bulk.usersApart() });
  if (result.loaded) {
    deps.logger.debug({ offset: writes[0]!.offset, pages: writes.length }, 'pages loaded by COPY');
    return true;
  }
  bulk.misses += 1;
  deps.logger.info(
    { offset: writes[0]!.offset, sqlState: result.sqlState, misses: bulk.misses, stopsAt: BULK_LOAD_MISSES },
    'pages not loaded by COPY; writing them as updates',
  );
  return false;
}
