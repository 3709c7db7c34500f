// Whether a run's walk can be trusted as the whole list, judged from its committed pages'
// metadata alone (sync_run_pages), so that a resumed run judges the pages of every attempt.
//
// Consecutive pages of an oldest-first walk overlap by one account: page k starts at offset
// k * (limit - 1), so its first account must be the previous page's last, and when it is not,
// items moved between the two fetches.

export interface PageMeta {
  index: number;
  offset: number;
  count: number;
  totalCount: number;
  firstId: string | null;
  lastId: string | null;
}

/**
 * Accounts on these pages, each page after the first not counting the account it repeats from
 * the previous one. The progress figure; the run's own total counts distinct ids.
 */
export function accountsOnPages(pages: ReadonlyArray<Pick<PageMeta, 'index' | 'count'>>): number {
  return pages.reduce((sum, page) => sum + (page.index === 0 ? page.count : Math.max(0, page.count - 1)), 0);
}

export interface WalkAssessment {
  complete: boolean;
  consistent: boolean;
  /** Why the walk cannot be trusted as the whole list; empty when it can. */
  reasons: string[];
}

/**
 * Judges a walk from its pages' metadata. `repeatedIds` counts ids listed more than once beyond
 * the expected one-item overlaps.
 */
export function assessWalk(pages: ReadonlyArray<PageMeta>, limit: number, repeatedIds: number): WalkAssessment {
  const reasons: string[] = [];
  const sorted = [...pages].sort((a, b) => a.index - b.index);
  if (sorted.length === 0) return { complete: false, consistent: false, reasons: ['no page was fetched'] };
  const missing = sorted.findIndex((page, position) => page.index !== position);
  const complete =
    missing === -1 &&
    ((last) => last.count < limit || last.offset + last.count >= last.totalCount)(sorted[sorted.length - 1]!);
  if (!complete) reasons.push('the walk did not reach the end of the list');

  const firstTotal = sorted[0]!.totalCount;
  const changed = sorted.find((page) => page.totalCount !== firstTotal);
  if (changed) {
    reasons.push(`total_count changed from ${firstTotal} to ${changed.totalCount} (page at offset ${changed.offset})`);
  }
  for (let i = 1; i < sorted.length; i += 1) {
    const previous = sorted[i - 1]!;
    const page = sorted[i]!;
    if (page.index !== previous.index + 1) continue;
    if (previous.count < limit) {
      reasons.push(`page at offset ${previous.offset} came back short (${previous.count} of ${limit}) before the end`);
    } else if (page.count > 0 && (page.firstId === null || previous.lastId === null)) {
      reasons.push(
        `the overlap of the pages at offsets ${previous.offset} and ${page.offset} cannot be checked: the record there has no usable id`,
      );
    } else if (page.count > 0 && page.firstId !== previous.lastId) {
      reasons.push(`items shifted between the pages at offsets ${previous.offset} and ${page.offset}`);
    }
  }
  const last = sorted[sorted.length - 1]!;
  if (complete && last.offset + last.count !== last.totalCount && !changed) {
    reasons.push(`the list ended after ${last.offset + last.count} items but total_count is ${last.totalCount}`);
  }
  if (repeatedIds > 0) reasons.push(`${repeatedIds} account id(s) listed more than once`);
  return { complete, consistent: reasons.length === 0, reasons };
}

/**
 * An incremental walk is complete when it reached the watermark or the end of the list; items
 * moving to the front during it are expected (they repeat, never skip), so it is consistent
 * whenever it is complete. It never decides deletions either way.
 */
export function assessNewestFirstWalk(reachedSince: boolean): WalkAssessment {
  return reachedSince
    ? { complete: true, consistent: true, reasons: [] }
    : { complete: false, consistent: false, reasons: ['the walk did not reach the watermark'] };
}

/** Ids the overlaps are expected to repeat: one per pair of consecutive pages that matched. */
export function expectedRepeats(pages: ReadonlyArray<PageMeta>): number {
  return matchedOverlaps(pages).length;
}

/** The pages whose first record is the previous page's last (the overlap held). */
export function matchedOverlaps(pages: ReadonlyArray<PageMeta>): number[] {
  const byIndex = new Map(pages.map((page) => [page.index, page]));
  const matched: number[] = [];
  for (const page of pages) {
    const previous = byIndex.get(page.index - 1);
    if (previous && page.count > 0 && page.firstId !== null && page.firstId === previous.lastId) matched.push(page.index);
  }
  return matched;
}
