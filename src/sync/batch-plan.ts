// Planning a batch of queued pages before anything is written: which accounts each walk page
// leaves to the previous page (consecutive pages overlap), and which pages may be recognised
// from their fingerprints (served exactly as the last full run wrote them).
import type { OpenRun } from '../runs/lifecycle.js';
import type { FingerprintedPage, PageKind } from '../runs/sql/pages.js';
import { isUuid, usableIdOf } from '../upvest/schema.js';
import type { FetchedPage } from './walk.js';

export interface Queued {
  page: FetchedPage;
  kind: PageKind;
  pass: number;
}

/** What the writer remembers of the walk's pages, to write each account they share once. */
export interface Overlaps {
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

/**
 * Which of the batch's walk pages leave out the accounts the previous page (another batch's)
 * writes, and whether the batch shares accounts with a later page already written by another
 * batch. Decided before the batch's first await, so that a parallel batch sees what this one
 * keeps: two transactions inserting the same row would wait for each other, and COPY would fail.
 */
export function planOverlaps(batch: ReadonlyArray<Queued>, overlaps: Overlaps): { leaveOut: Map<number, ReadonlySet<string>>; sharesWithAnotherBatch: boolean } {
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

/** The batch's walk pages that may be recorded from their fingerprints without being written. */
export function recognisedCandidates(run: OpenRun, batch: ReadonlyArray<Queued>): FingerprintedPage[] {
  const candidates: FingerprintedPage[] = [];
  for (const { page, kind } of batch) {
    if (kind !== 'walk') continue;
    if (page.page.recognised) {
      // Recognised by its digest while fetched: its records were never decoded, and need not be.
      candidates.push({ ...bookkeeping(run, page), listed: null, fingerprint: fingerprintOf(page) });
      continue;
    }
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const ids = usableIds(page.page.data);
    if (ids) candidates.push({ ...bookkeeping(run, page), listed: { ids, distinct: new Set(ids).size }, fingerprint: fingerprintOf(page) });
  }
  return candidates;
}

export function bookkeeping(run: OpenRun, page: FetchedPage) {
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
export function tailIdsOf(records: ReadonlyArray<unknown>, n: number): string[] {
  return records.slice(Math.max(0, records.length - n)).map(usableIdOf).filter((id): id is string => id !== null);
}

export function fingerprintOf(page: FetchedPage) {
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
