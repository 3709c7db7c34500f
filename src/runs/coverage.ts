// Whether a walk's pages prove that it listed every account, and where they do not.
//
// Offset paging is not a snapshot: an account removed ahead of the cursor moves every later one
// down an offset, so a page fetched at the next offset can step over accounts; and Upvest breaks
// ties of the sort key in no fixed order, so accounts sharing a created_at can swap places
// between two requests, across a page edge. What one page does prove, whatever happened between
// requests, is that it held every account whose key lies strictly between its first and last
// key when it was served (a page at offset 0 everything before its last key; a page that came
// back short everything after its first). An account listed throughout the walk, whose key
// never changes, is then on some page exactly when the pages' open key intervals leave no key
// uncovered. The gaps they leave are what the walk goes back for (src/sync/heal.ts).
//
// Keys are microseconds, in the walk's own direction: a newest-first walk negates them, so that
// every walk runs from low to high.

export const BEFORE_ALL = -(2n ** 80n);
export const AFTER_ALL = 2n ** 80n;

/** A page's sort keys as stored with it (see src/sync/page-keys.ts). */
export interface PageKeys {
  /** As served (RFC 3339), for storing: PostgreSQL reads them exactly as toMicros does. */
  firstKey: string;
  lastKey: string;
  headTies: number;
  tailTies: number;
}

export interface CoveragePage {
  index: number;
  offset: number;
  count: number;
  totalCount: number;
  /** Keys of the page's first and last records that have one; null when it proves nothing by key. */
  firstKey: bigint | null;
  lastKey: bigint | null;
  /** Records from the page's start through its first tie group, and from its last tie group to its end. */
  headTies: number;
  tailTies: number;
  /** The page came back short: nothing followed it when it was served. */
  endsList: boolean;
  /** It proves only what lies above firstKey, even at offset 0 (see coveragePages). */
  reduced?: boolean;
}

export interface Gap {
  /** Keys from `from` through `to` may hold accounts no page proves listed. */
  from: bigint;
  to: bigint;
  /** The page whose interval the covered keys below the gap end with (null: none starts the list). */
  below: CoveragePage | null;
  /** The page whose interval starts at `to` (null: none reaches the end). */
  above: CoveragePage | null;
}

interface Interval {
  low: bigint;
  high: bigint;
  page: CoveragePage;
}

/** The page's open key interval, or undefined when it proves nothing. */
export function intervalOf(page: CoveragePage): Interval | undefined {
  // A page at offset 0 that came back short is the whole list, keys or not.
  const low = page.offset === 0 && !page.reduced ? BEFORE_ALL : page.firstKey;
  const high = page.endsList ? AFTER_ALL : page.lastKey;
  if (low === null || high === null) return undefined;
  // An empty page past the start says only that nothing was there: no interval.
  if (page.count === 0 && page.offset > 0) return undefined;
  return { low, high, page };
}

/**
 * The gaps the pages leave in the keys up to `until` (exclusive; AFTER_ALL for a walk that must
 * reach the end of the list), in key order. None: every account listed throughout has a page.
 */
export function coverageGaps(pages: ReadonlyArray<CoveragePage>, until: bigint = AFTER_ALL): Gap[] {
  const intervals = pages
    .map(intervalOf)
    .filter((interval): interval is Interval => interval !== undefined)
    .sort((a, b) => (a.low < b.low ? -1 : a.low > b.low ? 1 : a.high > b.high ? -1 : a.high < b.high ? 1 : 0));
  const gaps: Gap[] = [];
  // Keys below `reach` are covered; a key equal to it is not.
  let reach = BEFORE_ALL + 1n;
  let below: CoveragePage | null = null;
  for (const interval of intervals) {
    if (interval.low >= reach) gaps.push({ from: reach, to: interval.low, below, above: interval.page });
    if (interval.high > reach || interval.low >= reach) {
      reach = interval.high;
      below = interval.page;
    }
    if (reach >= until) return gaps;
  }
  gaps.push({ from: reach, to: until, below, above: null });
  return gaps;
}

/** What the walk's pages say, once it has gone back for what it could. */
export interface CoverageVerdict {
  proven: boolean;
  /** Why not, one line each. */
  reasons: string[];
}

export function coverageVerdict(gaps: ReadonlyArray<Gap>, describeKey: (key: bigint) => string): CoverageVerdict {
  if (gaps.length === 0) return { proven: true, reasons: [] };
  const shown = gaps.slice(0, 3).map((gap) => describeGap(gap, describeKey));
  if (gaps.length > shown.length) shown.push(`and ${gaps.length - shown.length} more gap(s)`);
  return { proven: false, reasons: shown };
}

function describeGap(gap: Gap, describeKey: (key: bigint) => string): string {
  if (gap.below === null) return `no page starts the list (before ${describeKey(gap.to)})`;
  if (gap.above === null) return `no page reaches the end of the list (after ${describeKey(gap.from)})`;
  return gap.from === gap.to
    ? `accounts at ${describeKey(gap.from)} (a tie of the sort key across a page edge) are not proven listed`
    : `accounts from ${describeKey(gap.from)} to ${describeKey(gap.to)} are not proven listed`;
}
