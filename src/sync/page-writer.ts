// What the sync does with the pages it fetched: queue them, and write them in batches, several
// pages per transaction when they arrive faster than they commit (fewer, larger statements: a
// first sync spends less per account, and small pages keep up with the request rate). Pages a
// full run last wrote exactly as they are served now are only recorded, without even being
// validated. The queue is bounded, so memory is too: fetching waits while it is full.
import type { Pool } from 'pg';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { recordRecognisedPages, setRunPageSize, setRunWatermark, type OpenRun } from '../runs/lifecycle.js';
import type { FingerprintedPage, PageKind } from '../runs/sql/pages.js';
import { isUuid, usableIdOf, type AccountRecord, type ExtraLimits } from '../upvest/schema.js';
import { bulkLoadPages } from './page-copy.js';
import { checkPage, type SortedBy } from './page-check.js';
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

interface Queued {
  page: FetchedPage;
  kind: PageKind;
  pass: number;
}

/** What the writer remembers of the walk's pages, to write each account they share once. */
interface Overlaps {
  /** How many records consecutive pages of the layout share. */
  size: number;
  /** The ids each page queued (or committed by an earlier attempt) ends with: the next page repeats them. */
  tailIds: Map<number, ReadonlySet<string>>;
  /**
   * The ids a page was written with at its head although they may repeat the previous page's
   * tail (that page was not queued yet): that page must not insert them a second time.
   */
  keptHeadIds: Map<number, ReadonlySet<string>>;
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

/**
 * Which of the batch's walk pages leave out the accounts the previous page (another batch's)
 * writes, and whether the batch shares accounts with a later page already written by another
 * batch. Decided before the batch's first await, so that a parallel batch sees what this one
 * keeps: two transactions inserting the same row would wait for each other, and COPY would fail.
 */
function planOverlaps(batch: ReadonlyArray<Queued>, overlaps: Overlaps): { leaveOut: Map<number, ReadonlySet<string>>; sharesWithAnotherBatch: boolean } {
  const walk = batch.filter((q) => q.kind === 'walk');
  const inBatch = new Set(walk.map((q) => q.page.index));
  const leaveOut = new Map<number, ReadonlySet<string>>();
  let sharesWithAnotherBatch = false;
  for (const { page } of walk) {
    if (page.page.recognised) continue;
    if (!inBatch.has(page.index - 1)) {
      const head = new Set(headIdsOf(page.page.data, overlaps.size));
      const previousTail = overlaps.tailIds.get(page.index - 1);
      if (previousTail) leaveOut.set(page.index, previousTail);
      const kept = [...head].filter((id) => !previousTail?.has(id));
      if (kept.length > 0) overlaps.keptHeadIds.set(page.index, new Set(kept));
    }
    // The next page kept accounts this one ends with: they may be stored already.
    const next = page.index + 1;
    const keptByNext = inBatch.has(next) ? undefined : overlaps.keptHeadIds.get(next);
    if (keptByNext && tailIdsOf(page.page.data, overlaps.size).some((id) => keptByNext.has(id))) sharesWithAnotherBatch = true;
  }
  return { leaveOut, sharesWithAnotherBatch };
}

/** One batch: record the pages served as last written, validate and write the others. */
async function writeBatch(
  deps: PageWriterDeps,
  run: OpenRun,
  batch: Queued[],
  context: { fingerprinting: boolean; overlaps: Overlaps; bulk: BulkState; extraLimits?: ExtraLimits },
): Promise<void> {
  const { leaveOut, sharesWithAnotherBatch } = planOverlaps(batch, context.overlaps);
  const fingerprinting = context.fingerprinting;
  const candidates: FingerprintedPage[] = [];
  for (const { page, kind } of batch) {
    if (!fingerprinting || kind !== 'walk') continue;
    if (page.page.recognised) {
      // Recognised by its digest while fetched: its records were never decoded, and need not be.
      candidates.push({ ...bookkeeping(run, page), listed: null, fingerprint: fingerprintOf(page) });
      continue;
    }
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const ids = usableIds(page.page.data);
    if (ids) candidates.push({ ...bookkeeping(run, page), listed: { ids, distinct: new Set(ids).size }, fingerprint: fingerprintOf(page) });
  }
  const recorded = await recordRecognisedPages(deps.prisma, candidates);

  const writes: PageWrite[] = [];
  for (const { page, kind, pass } of batch) {
    if (recorded.has(page.index) && kind === 'walk') continue;
    const checked = checkPage(page.page.data, deps.redact, sortedByOf(run, kind), context.extraLimits);
    // (the accounts come in page order: the last left out has the largest key in the walk's order)
    for (const record of checked.rejected) {
      deps.logger.warn({ offset: page.offset, accountId: record.accountId, reason: record.reason }, 'account rejected');
    }
    if (kind === 'walk' && run.mode === 'incremental' && run.watermark === null && checked.accounts[0]) {
      // Newest first: the first account of the first page is the newest update listed.
      await setRunWatermark(deps.prisma, run, checked.accounts[0].updatedAt);
    }
    const sortedBy = sortedByOf(run, kind);
    const left = leaveOut.get(page.index);
    const accounts = left ? checked.accounts.filter((a) => !left.has(a.id)) : checked.accounts;
    const leftOut = left && sortedBy ? leftOutOf(checked.accounts, left, sortedBy.field) : undefined;
    writes.push({
      ...bookkeeping(run, page),
      pageIndex: page.index,
      itemCount: page.count,
      ...checked,
      accounts,
      observedAt: deps.now(),
      fingerprint: fingerprinting && kind === 'walk' ? fingerprintOf(page) : undefined,
      redact: deps.redact,
      kind,
      catchUpPass: pass,
      leftOut,
    });
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

/**
 * The accounts the page leaves to the previous page's batch, and the key of the last of them: a
 * page proves only what lies above that key until the previous page is committed listing them
 * (see coveragePages), since a process killed between the two commits leaves them to nobody.
 */
function leftOutOf(accounts: ReadonlyArray<AccountRecord>, left: ReadonlySet<string>, field: 'createdAt' | 'updatedAt'): PageWrite['leftOut'] {
  const ids: string[] = [];
  let key: string | undefined;
  for (const account of accounts) {
    if (!left.has(account.id)) continue;
    ids.push(account.id);
    key = account[field];
  }
  return key === undefined ? undefined : { ids, key };
}

/** The key a page of this kind is sorted by: a full run's walk oldest first, every other walk newest first. */
function sortedByOf(run: OpenRun, kind: PageKind): SortedBy | undefined {
  if (kind === 'lookup') return undefined;
  return run.mode === 'full' && kind !== 'catch_up' ? { field: 'createdAt', ascending: true } : { field: 'updatedAt', ascending: false };
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
    // Fewer records than asked, and none beyond by its own total: the list ended within this
    // page when it was served. A short page before its total proves no end.
    endsList: page.count < page.limit && page.offset + page.count >= page.totalCount,
  };
}

/** The usable ids among the page's first `n` records. */
function headIdsOf(records: ReadonlyArray<unknown>, n: number): string[] {
  return records.slice(0, n).map(usableIdOf).filter((id): id is string => id !== null);
}

/** The usable ids among the page's last `n` records. */
function tailIdsOf(records: ReadonlyArray<unknown>, n: number): string[] {
  return records.slice(Math.max(0, records.length - n)).map(usableIdOf).filter((id): id is string => id !== null);
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
