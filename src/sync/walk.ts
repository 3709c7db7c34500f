// Walks GET /accounts page by page, several pages in flight at once.
//
// Offset paging is not a snapshot: an account removed ahead of the cursor during the walk
// shifts every later item down, and Upvest breaks ties of the sort key in no fixed order. So
// consecutive pages overlap (page k starts at k * (limit - overlap)): as long as the records
// they share hold two different keys, nothing between them can have been stepped over. Where
// they do not, the run goes back for what lies between (heal.ts): what the pages prove is
// judged by their keys (src/runs/coverage.ts), not by their positions.
import { AccountSyncError } from '../errors.js';
import type { AccountsPage, RecognisedPage, UpvestClient } from '../upvest/client.js';
import { usableIdOf } from '../upvest/schema.js';
import type { PageMeta } from '../runs/assessment.js';
import { toMicros } from '../mirror/timestamps.js';

export type { PageMeta };

export interface FetchedPage extends PageMeta {
  /** The page size it was fetched with (what the server serves, when it serves fewer than asked). */
  limit: number;
  page: AccountsPage;
}

/** How many records consecutive pages share: at least one, and never a whole page. */
export function overlapFor(limit: number, overlap: number): number {
  return Math.max(1, Math.min(overlap, limit - 1));
}

export function pageOffset(index: number, limit: number, overlap: number): number {
  return index * (limit - overlapFor(limit, overlap));
}

/** How many overlapping pages of `limit` cover `total` items. */
export function pagesFor(total: number, limit: number, overlap: number): number {
  const step = limit - overlapFor(limit, overlap);
  return total <= limit ? 1 : 1 + Math.ceil((total - limit) / step);
}

/**
 * The most pages one walk may fetch: what the first page's total_count needs, with room for
 * accounts added while the walk is under way (10% more, and ten pages), and never more than
 * `ceiling` (SYNC_MAX_PAGES). A server that keeps serving full pages, or raises total_count
 * page after page, cannot keep a run going for ever.
 */
export function pageCap(firstTotal: number, limit: number, overlap: number, ceiling: number): number {
  return Math.min(ceiling, pagesFor(Math.ceil(firstTotal * 1.1), limit, overlap) + 10);
}

/** A full walk whose first total_count already needs more pages than the ceiling fails at once. */
function checkWholeListFits(firstTotal: number, limit: number, overlap: number, ceiling: number): void {
  const needed = pagesFor(firstTotal, limit, overlap);
  if (needed <= ceiling) return;
  throw new AccountSyncError(
    'SYNC_PAGE_LIMIT_EXCEEDED',
    `total_count ${firstTotal} needs ${needed} pages of ${limit}, more than SYNC_MAX_PAGES (${ceiling})`,
  );
}

function pageCapExceeded(cap: number, firstTotal: number, limit: number, ceiling: number): AccountSyncError {
  return new AccountSyncError(
    'SYNC_PAGE_LIMIT_EXCEEDED',
    cap >= ceiling
      ? `the list did not end within SYNC_MAX_PAGES (${ceiling}) pages`
      : `the list did not end within ${cap} pages of ${limit}, the most its first total_count (${firstTotal}) allows with room for growth`,
  );
}

export interface WalkOptions {
  limit: number;
  /** Records consecutive pages share (SYNC_PAGE_OVERLAP). */
  overlap: number;
  concurrency: number;
  /** SYNC_MAX_PAGES: the absolute ceiling of pages per walk. */
  maxPages: number;
  /** Pages already committed by an earlier attempt of this run (crash resume). */
  done?: ReadonlyArray<PageMeta>;
  signal?: AbortSignal;
  /** Pages known by their position and digest, returned without decoding their records (see ListOptions). */
  recognise?: (offset: number, limit: number, digest: string) => RecognisedPage | undefined;
}

export interface WalkOutcome {
  /** The page size actually used (the server may serve fewer per page than asked). */
  limit: number;
}

/**
 * Fetches every page and hands each to `handle` (which validates and commits it). Returns once
 * the list has been walked to its end; throws the first failure, after stopping the others.
 */
export async function walkPages(
  client: UpvestClient,
  options: WalkOptions,
  handle: (page: FetchedPage) => Promise<void>,
): Promise<WalkOutcome> {
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const done = new Map((options.done ?? []).map((meta) => [meta.index, meta]));
  let limit = options.limit;
  let maxTotal = Math.max(0, ...[...done.values()].map((meta) => meta.totalCount));
  // The first short page marks the end of the list; nothing past it is fetched.
  let endIndex = Math.min(Infinity, ...[...done.values()].filter((m) => m.count < limit && m.offset + m.count >= m.totalCount).map((m) => m.index));
  const firstDone = done.get(0);
  let firstTotal = firstDone?.totalCount ?? 0;
  const overlap = options.overlap;
  let cap = firstDone ? pageCap(firstTotal, limit, overlap, options.maxPages) : options.maxPages;
  if (firstDone) checkWholeListFits(firstTotal, limit, overlap, options.maxPages);

  const fetchPage = async (index: number): Promise<void> => {
    const offset = pageOffset(index, limit, overlap);
    const recognise = options.recognise;
    const asked = limit;
    const page = await client.listAccounts(
      { offset, limit, sort: 'created_at', order: 'ASC' },
      abort.signal,
      recognise ? { recognise: (digest) => recognise(offset, asked, digest) } : undefined,
    );
    if (index === 0) {
      limit = servedLimit(page, limit);
      firstTotal = page.meta.total_count;
      checkWholeListFits(firstTotal, limit, overlap, options.maxPages);
      cap = pageCap(firstTotal, limit, overlap, options.maxPages);
    }
    const fetched = fetchedPage(index, offset, limit, page);
    maxTotal = Math.max(maxTotal, fetched.totalCount);
    // Short and at its own total: the end of the list. Short before it proves no end: go on.
    if (fetched.count < limit && fetched.offset + fetched.count >= fetched.totalCount) endIndex = Math.min(endIndex, index);
    await handle(fetched);
  };

  try {
    // The first page alone: it tells the total, and the page size the server really serves.
    if (!done.has(0)) await fetchPage(0);

    let next = 1;
    const claim = (): number | undefined => {
      for (;;) {
        if (next > endIndex || next >= pagesFor(maxTotal, limit, overlap)) return undefined;
        if (next >= cap) throw pageCapExceeded(cap, firstTotal, limit, options.maxPages);
        const index = next++;
        if (!done.has(index)) return index;
      }
    };
    const worker = async () => {
      for (let index = claim(); index !== undefined; index = claim()) {
        await fetchPage(index);
      }
    };
    // The first failure is the run's: the others may only be the aborts it caused.
    let firstFailure: { error: unknown } | undefined;
    const workers = Array.from({ length: Math.max(1, options.concurrency) }, () =>
      worker().catch((error: unknown) => {
        firstFailure ??= { error };
        abort.abort(error);
        throw error;
      }),
    );
    await Promise.allSettled(workers);
    if (firstFailure) throw firstFailure.error;
    return { limit };
  } finally {
    options.signal?.removeEventListener('abort', onOuterAbort);
  }
}

export interface NewestFirstOptions {
  limit: number;
  /** Records consecutive pages share (SYNC_PAGE_OVERLAP). */
  overlap: number;
  /** SYNC_MAX_PAGES: the absolute ceiling of pages per walk. */
  maxPages: number;
  /** Stop after the page that reaches accounts updated before this (microseconds). */
  sinceMicros: bigint;
  signal?: AbortSignal;
  /** Index of the first page (a resumed run continues the numbering of its earlier pages). */
  firstIndex?: number;
}

/**
 * The incremental walk and the catch-up passes: `sort=updated_at&order=DESC`, page after page,
 * until a page reaches accounts older than `sinceMicros` or the list ends. An account updated
 * during the walk jumps to the front, behind the cursor: it is newer than the walk's start, and
 * the next catch-up pass lists it.
 */
export async function walkNewestFirst(
  client: UpvestClient,
  options: NewestFirstOptions,
  handle: (page: FetchedPage) => Promise<void>,
): Promise<WalkOutcome> {
  let limit = options.limit;
  const first = options.firstIndex ?? 0;
  let cap = options.maxPages;
  let firstTotal = 0;
  for (let index = first; ; index += 1) {
    if (index - first >= cap) throw pageCapExceeded(cap, firstTotal, limit, options.maxPages);
    const offset = pageOffset(index - first, limit, options.overlap);
    const page = await client.listAccounts({ offset, limit, sort: 'updated_at', order: 'DESC' }, options.signal);
    if (index === first) {
      limit = servedLimit(page, limit);
      firstTotal = page.meta.total_count;
      cap = pageCap(firstTotal, limit, options.overlap, options.maxPages);
    }
    await handle(fetchedPage(index, offset, limit, page));
    const reachedOlder = page.data.some((record) => {
      const micros = updatedMicrosOf(record);
      return micros !== undefined && micros < options.sinceMicros;
    });
    if (reachedOlder || page.data.length < limit) return { limit };
  }
}

/** The newest updated_at Upvest lists right now (one small request), or null for an empty list. */
export async function newestUpdate(client: UpvestClient, signal?: AbortSignal): Promise<string | null> {
  const page = await client.listAccounts({ offset: 0, limit: 1, sort: 'updated_at', order: 'DESC' }, signal);
  const first = page.data[0];
  const value = first && typeof first === 'object' ? (first as Record<string, unknown>).updated_at : undefined;
  return typeof value === 'string' && toMicros(value) !== undefined ? value : null;
}

function updatedMicrosOf(record: unknown): bigint | undefined {
  const value = record && typeof record === 'object' ? (record as Record<string, unknown>).updated_at : undefined;
  return typeof value === 'string' ? toMicros(value) : undefined;
}

/**
 * A server that caps the page size below what we asked would otherwise look like a run of
 * short pages: walk with the size it actually serves.
 */
function servedLimit(page: AccountsPage, asked: number): number {
  const served = page.meta.limit;
  return served > 1 && served < asked && countOf(page) <= served ? served : asked;
}

export function fetchedPage(index: number, offset: number, limit: number, page: AccountsPage): FetchedPage {
  const known = page.recognised;
  return {
    index,
    offset,
    limit,
    count: countOf(page),
    totalCount: page.meta.total_count,
    // Only a usable id (a UUID) is kept: these are stored, and compared across pages.
    firstId: known ? known.firstId : page.data.length > 0 ? usableIdOf(page.data[0]) : null,
    lastId: known ? known.lastId : page.data.length > 0 ? usableIdOf(page.data[page.data.length - 1]) : null,
    page,
  };
}

/** Records on the page, without decoding a recognised page's. */
function countOf(page: AccountsPage): number {
  return page.recognised ? page.recognised.count : page.data.length;
}
