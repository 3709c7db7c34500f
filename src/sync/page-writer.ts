// What the sync does with the pages it fetched: queue them, and write them in batches, several
// pages per transaction when they arrive faster than they commit (fewer, larger statements: a
// first sync spends less per account, and small pages keep up with the request rate). Pages a
// full run last wrote exactly as they are served now are only recorded, without even being
// validated. The queue is bounded, so memory is too: fetching waits while it is full.
import type { Pool } from 'pg';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { OpenRun } from '../runs/lifecycle.js';
import { recordPagesIfFingerprinted, type FingerprintedPage } from '../runs/sql/pages.js';
import { setPageSize, setWatermark } from '../runs/sql/runs.js';
import { isUuid } from '../upvest/schema.js';
import { bulkLoadPages } from './bulk-load.js';
import { checkPage } from './page-check.js';
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
  /** Pages just committed, in the order they were queued. */
  onCommitted: (pages: FetchedPage[]) => void;
}

export interface PageWriter {
  /** Queues a page (of the catch-up pass when `catchUp`); resolves once there is room for another. */
  write(page: FetchedPage, catchUp: boolean): Promise<void>;
  /** Resolves once every queued page is committed; rejects with the first failure. */
  flush(): Promise<void>;
}

interface Queued {
  page: FetchedPage;
  catchUp: boolean;
}

/** Keeps `run.pageSize` and `run.watermark` up to date as pages come in. */
export function createPageWriter(deps: PageWriterDeps, run: OpenRun, options: PageWriterOptions): PageWriter {
  const queue: Queued[] = [];
  /** Pages queued or being written. */
  let inFlight = 0;
  let active = 0;
  let failure: { error: unknown } | null = null;
  const roomWaiters: Array<() => void> = [];
  /** The last id of every page of the walk queued (or committed by an earlier attempt). */
  const lastIds = new Map<number, string | null>(run.donePages.map((page) => [page.index, page.lastId]));
  /**
   * The first id of every page of the walk written with it even though it repeats the previous
   * page's last (that page was not queued yet), and of every page an earlier attempt committed.
   */
  const keptFirstIds = new Map<number, string | null>(run.donePages.map((page) => [page.index, page.firstId]));
  const idleWaiters: Array<() => void> = [];
  const bulk = { pool: options.bulkLoad ? deps.pool : undefined, misses: 0 };

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
          await writeBatch(deps, run, batch, { fingerprinting: options.fingerprinting, lastIds, keptFirstIds, bulk });
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
    async write(page, catchUp) {
      throwIfFailed();
      if (!catchUp) lastIds.set(page.index, page.lastId);
      queue.push({ page, catchUp });
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

/** One batch: record the pages served as last written, validate and write the others. */
async function writeBatch(
  deps: PageWriterDeps,
  run: OpenRun,
  batch: Queued[],
  context: {
    fingerprinting: boolean;
    lastIds: ReadonlyMap<number, string | null>;
    keptFirstIds: Map<number, string | null>;
    bulk: BulkState;
  },
): Promise<void> {
  const { fingerprinting } = context;
  const inBatch = new Set(batch.filter((q) => !q.catchUp).map((q) => q.page.index));
  // Decided before the first await, so that a parallel batch sees what this one keeps.
  // The account two consecutive pages share is written with the earlier page when that page
  // is another batch's: two transactions inserting the same row would wait for each other.
  const overlaps = new Set<number>();
  let sharesWithAnotherBatch = false;
  for (const { page, catchUp } of batch) {
    if (catchUp) continue;
    if (!inBatch.has(page.index - 1) && page.firstId !== null) {
      if (context.lastIds.get(page.index - 1) === page.firstId) overlaps.add(page.index);
      else context.keptFirstIds.set(page.index, page.firstId);
    }
    // The next page kept the account this one ends with: it may be stored already.
    const next = page.index + 1;
    if (!inBatch.has(next) && page.lastId !== null && context.keptFirstIds.get(next) === page.lastId) sharesWithAnotherBatch = true;
  }
  const candidates: FingerprintedPage[] = [];
  for (const { page, catchUp } of batch) {
    if (!fingerprinting || catchUp) continue;
    if (page.page.recognised) {
      // Recognised by its digest while fetched: its records were never decoded, and need not be.
      candidates.push({ ...bookkeeping(run, page), listed: null, fingerprint: fingerprintOf(page) });
      continue;
    }
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const ids = usableIds(page.page.data);
    if (ids) candidates.push({ ...bookkeeping(run, page), listed: { ids, distinct: new Set(ids).size }, fingerprint: fingerprintOf(page) });
  }
  const recorded = await recordPagesIfFingerprinted(deps.prisma, candidates);

  const writes: PageWrite[] = [];
  for (const { page, catchUp } of batch) {
    if (recorded.has(page.index) && !catchUp) continue;
    const checked = checkPage(page.page.data, deps.redact);
    for (const record of checked.rejected) {
      deps.logger.warn({ offset: page.offset, accountId: record.accountId, reason: record.reason }, 'account rejected');
    }
    if (!catchUp && run.mode === 'incremental' && run.watermark === null && checked.accounts[0]) {
      // Newest first: the first account of the first page is the newest update listed.
      run.watermark = checked.accounts[0].updatedAt;
      await setWatermark(deps.prisma, run.runId, run.watermark);
    }
    const accounts = overlaps.has(page.index) ? withoutFirst(checked.accounts, page.firstId!) : checked.accounts;
    writes.push({
      ...bookkeeping(run, page),
      pageIndex: page.index,
      itemCount: page.count,
      ...checked,
      accounts,
      observedAt: deps.now(),
      fingerprint: fingerprinting && !catchUp ? fingerprintOf(page) : undefined,
      redact: deps.redact,
      catchUp,
    });
  }
  if (writes.length > 0 && (sharesWithAnotherBatch || !(await loadedInBulk(deps, context.bulk, writes)))) {
    await writePages(deps.prisma, writes);
  }

  const first = batch.find((q) => !q.catchUp && q.page.index === 0);
  if (first && first.page.limit !== run.pageSize) {
    // The server serves fewer per page than asked; a resumed run must walk the same layout.
    run.pageSize = first.page.limit;
    await setPageSize(deps.prisma, run.runId, run.pageSize);
  }
}

interface BulkState {
  pool: Pool | undefined;
  misses: number;
}

/** After this many batches had a stored account or a refused record, a run stops trying COPY. */
const BULK_LOAD_MISSES = 3;

async function loadedInBulk(deps: PageWriterDeps, bulk: BulkState, writes: PageWrite[]): Promise<boolean> {
  if (!bulk.pool || bulk.misses >= BULK_LOAD_MISSES || writes.some((w) => w.catchUp)) return false;
  const result = await bulkLoadPages(bulk.pool, writes);
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

function withoutFirst<T extends { id: string }>(accounts: T[], id: string): T[] {
  const at = accounts.findIndex((a) => a.id === id);
  return at < 0 ? accounts : [...accounts.slice(0, at), ...accounts.slice(at + 1)];
}

function bookkeeping(run: OpenRun, page: FetchedPage) {
  return {
    runId: run.runId,
    index: page.index,
    offset: page.offset,
    totalCount: page.totalCount,
    itemCount: page.count,
    firstId: page.firstId,
    lastId: page.lastId,
    retries: page.page.retries,
  };
}

function fingerprintOf(page: FetchedPage) {
  return { limit: page.limit, digest: page.page.digest };
}

/** The ids of the page's records, or null when one of them has no usable id. */
function usableIds(records: ReadonlyArray<unknown>): string[] | null {
  const ids: string[] = [];
  for (const record of records) {
    const id = record !== null && typeof record === 'object' ? (record as { id?: unknown }).id : undefined;
    if (!isUuid(id)) return null;
    ids.push(id.toLowerCase());
  }
  return ids;
}
