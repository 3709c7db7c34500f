// What the sync does with the pages it fetched: queue them, and write them in batches, several
// pages per transaction when they arrive faster than they commit (fewer, larger statements: a
// first sync spends less per account, and small pages keep up with the request rate). Pages a
// full run last wrote exactly as they are served now are only recorded, without even being
// validated. The queue is bounded, so memory is too: fetching waits while it is full.
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { OpenRun } from '../runs/lifecycle.js';
import { recordPagesIfFingerprinted, type FingerprintedPage } from '../runs/sql/pages.js';
import { setPageSize, setWatermark } from '../runs/sql/runs.js';
import { isUuid } from '../upvest/schema.js';
import { checkPage } from './page-check.js';
import { writePages, type PageWrite } from './store.js';
import type { FetchedPage } from './walk.js';

export interface PageWriterDeps {
  prisma: PrismaClient;
  logger: Logger;
  now: () => Date;
  redact: (text: string) => string;
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
  const idleWaiters: Array<() => void> = [];

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
          await writeBatch(deps, run, batch, { fingerprinting: options.fingerprinting, lastIds });
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
  context: { fingerprinting: boolean; lastIds: ReadonlyMap<number, string | null> },
): Promise<void> {
  const { fingerprinting } = context;
  const inBatch = new Set(batch.filter((q) => !q.catchUp).map((q) => q.page.index));
  const candidates: FingerprintedPage[] = [];
  for (const { page, catchUp } of batch) {
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const ids = fingerprinting && !catchUp ? usableIds(page.page.data) : null;
    if (ids) candidates.push({ ...bookkeeping(run, page), listedIds: ids, unchanged: new Set(ids).size, fingerprint: fingerprintOf(page) });
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
    // The account two consecutive pages share is written with the earlier page when that page
    // is another batch's: two transactions inserting the same row would wait for each other.
    const overlap = !catchUp && !inBatch.has(page.index - 1) && page.firstId !== null && context.lastIds.get(page.index - 1) === page.firstId;
    const accounts = overlap ? withoutFirst(checked.accounts, page.firstId!) : checked.accounts;
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
  if (writes.length > 0) await writePages(deps.prisma, writes);

  const first = batch.find((q) => !q.catchUp && q.page.index === 0);
  if (first && first.page.limit !== run.pageSize) {
    // The server serves fewer per page than asked; a resumed run must walk the same layout.
    run.pageSize = first.page.limit;
    await setPageSize(deps.prisma, run.runId, run.pageSize);
  }
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
