// What a walk's pages prove by their keys, and where they leave gaps (src/runs/coverage.ts), and
// how the walk's layout and its windows are placed (walk.ts, heal.ts).
import { describe, expect, it } from 'vitest';
import { walkCoverage } from '../../src/runs/assessment.js';
import { AFTER_ALL, coverageGaps, type CoveragePage } from '../../src/runs/coverage.js';
import type { StoredCoverage } from '../../src/runs/sql/pages.js';
import { nextWindow, windowFor } from '../../src/sync/heal.js';
import { pageKeysOf } from '../../src/sync/page-keys.js';
import { pageOffset, pagesFor } from '../../src/sync/walk.js';

/**
 * Pages of a list sorted by `keys` (one key per item, ascending), served by a still server at
 * the walk's layout: each page's keys as the run stores them.
 */
function pagesOver(keys: number[], limit: number, overlap: number): CoveragePage[] {
  return Array.from({ length: pagesFor(keys.length, limit, overlap) }, (_, index) => {
    const offset = pageOffset(index, limit, overlap);
    return pageAt(keys, offset, limit, index);
  });
}

function pageAt(keys: number[], offset: number, limit: number, index = 0): CoveragePage {
  const slice = keys.slice(offset, offset + limit);
  const stored = pageKeysOf(slice.map((key, position) => ({ position, key: iso(key) })), slice.length, true);
  return {
    index,
    offset,
    count: slice.length,
    totalCount: keys.length,
    firstKey: stored ? BigInt(slice[0]!) * 1_000_000n : null,
    lastKey: stored ? BigInt(slice[slice.length - 1]!) * 1_000_000n : null,
    headTies: stored?.headTies ?? 0,
    tailTies: stored?.tailTies ?? 0,
    endsList: slice.length < limit,
  };
}

const iso = (seconds: number) => new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString();
/** Distinct keys 1, 2, 3, ... */
const distinct = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('the walk layout', () => {
  it('overlaps consecutive pages by SYNC_PAGE_OVERLAP records and covers the whole list', () => {
    expect([0, 1, 2, 3].map((i) => pageOffset(i, 100, 10))).toEqual([0, 90, 180, 270]);
    expect([0, 1, 2].map((i) => pageOffset(i, 100, 1))).toEqual([0, 99, 198]);
    // Never a whole page: pages of 2 share one record.
    expect([0, 1, 2].map((i) => pageOffset(i, 2, 10))).toEqual([0, 1, 2]);
    expect(pagesFor(0, 100, 10)).toBe(1);
    expect(pagesFor(100, 100, 10)).toBe(1);
    expect(pagesFor(101, 100, 10)).toBe(2);
    expect(pagesFor(190, 100, 10)).toBe(2);
    expect(pagesFor(191, 100, 10)).toBe(3);
    expect(pagesFor(1_000_000, 1000, 10)).toBe(1011);
  });
});

describe('coverage by keys', () => {
  it('proves a still walk of distinct keys, given in any order', () => {
    const pages = pagesOver(distinct(250), 100, 10);
    expect(pages.map((p) => [p.offset, p.count])).toEqual([[0, 100], [90, 100], [180, 70]]);
    expect(coverageGaps(pages)).toEqual([]);
    expect(coverageGaps([...pages].reverse())).toEqual([]);
  });

  it('proves an empty list from its one empty page', () => {
    expect(coverageGaps(pagesOver([], 100, 10))).toEqual([]);
  });

  it('finds the accounts a page stepped over when accounts ahead of it were removed', () => {
    const keys = distinct(250);
    const first = pageAt(keys, 0, 100, 0);
    // Twenty accounts ahead of the cursor removed before the next request: page 1 starts 20 later.
    const after = keys.filter((k) => k > 30 && k <= 50 ? false : true);
    const second = pageAt(after, 90, 100, 1);
    const third = pageAt(after, 180, 100, 2);
    const gaps = coverageGaps([first, second, third]);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]).toMatchObject({ from: 100n * 1_000_000n, to: 111n * 1_000_000n, below: first, above: second });
    // The window runs from the last account below the gap's key (offset 98 then) to the first
    // above it (91 now), widened on both sides by the list's shift (20) and 2 more.
    expect(windowFor(gaps[0]!, 0, 100, 20)).toEqual({ offset: 76, limit: 38 });
  });

  it('finds a tie of the sort key that the overlap cannot tell apart', () => {
    // Twelve accounts share key 95: the ten records the pages share hold only that key.
    const keys = distinct(250).map((k) => (k >= 89 && k <= 100 ? 95 : k));
    const pages = pagesOver(keys, 100, 10);
    const gaps = coverageGaps(pages);
    expect(gaps.map((g) => [g.from, g.to])).toEqual([[95n * 1_000_000n, 95n * 1_000_000n]]);
    // The group starts at offset 88 and runs to 99: the window holds it whole, with a neighbour on each side.
    const window = windowFor(gaps[0]!, 0, 100, 0);
    expect(window.offset).toBeLessThanOrEqual(87);
    expect(window.offset + window.limit - 1).toBeGreaterThanOrEqual(100);
    const healed = [...pages, pageAt(keys, window.offset, window.limit, 3)];
    expect(coverageGaps(healed)).toEqual([]);
  });

  it('lets a wide enough overlap carry a tie across the page edge', () => {
    const keys = distinct(250).map((k) => (k >= 93 && k <= 97 ? 95 : k));
    expect(coverageGaps(pagesOver(keys, 100, 10))).toEqual([]);
    // With one shared record, every edge is a gap: its key may be shared by an unseen account.
    expect(coverageGaps(pagesOver(distinct(250), 100, 1))).toHaveLength(2);
  });

  it('proves nothing by a page whose records came out of order, and nothing past a page short of its total', () => {
    expect(pageKeysOf([{ position: 0, key: iso(2) }, { position: 1, key: iso(1) }], 2, true)).toBeNull();
    const pages = pagesOver(distinct(250), 100, 10);
    pages[1] = { ...pages[1]!, firstKey: null, lastKey: null };
    expect(coverageGaps(pages)).toHaveLength(1);
    const short = pagesOver(distinct(250), 100, 10).slice(0, 2);
    expect(coverageGaps(short)).toMatchObject([{ from: 190n * 1_000_000n, to: AFTER_ALL, above: null }]);
  });

  it('reads newest-first walks down to their watermark only', () => {
    const stored = (offset: number, first: number, last: number, count = 100): StoredCoverage => ({
      index: offset,
      offset,
      count,
      totalCount: 1000,
      firstKey: `${iso(first).slice(0, 19)}.000000Z`,
      lastKey: `${iso(last).slice(0, 19)}.000000Z`,
      headTies: 1,
      tailTies: 1,
      endsList: false,
      reduced: false,
    });
    // Every account updated after second 500 is owed.
    const since = BigInt(Date.parse(iso(500))) * 1000n;
    // Keys 1000 down to 901, then 910 down to 811: proven down to 811, not to 500.
    expect(walkCoverage([stored(0, 1000, 901), stored(90, 910, 811)], 'incremental', since)).toMatchObject({ complete: false, consistent: false });
    // One more page that reaches past the watermark, and it is.
    expect(walkCoverage([stored(0, 1000, 901), stored(90, 910, 811), stored(180, 820, 480)], 'incremental', since)).toEqual({
      complete: true,
      consistent: true,
      reasons: [],
    });
  });

  it('places windows sanely around pages that prove only part of themselves, and names a list shorter than its total', () => {
    const keys = distinct(250);
    const below = pageAt(keys, 0, 100, 0);
    // It left its first ten (keys 91 to 100) to page 0, which is not committed listing them.
    const above = { ...pageAt(keys, 90, 100, 1), firstKey: 100n * 1_000_000n, reduced: true };
    const [gap] = coverageGaps([below, above]);
    // From the gap on, a whole page: where above's first account past its left-out ones lies is unknown.
    expect(windowFor(gap!, 0, 100, 0)).toEqual({ offset: 98, limit: 100 });
    // A window short of its limit, yet not at its own total: the server lists fewer than it says.
    const seen = { ...pageAt(keys, 98, 100, 2), count: 40, lastKey: 137n * 1_000_000n, endsList: false };
    expect(nextWindow({ ...gap!, from: 120n * 1_000_000n }, { offset: 98, limit: 100, index: 2, attempt: 0 }, seen, 100)).toBe('short');
  });
});
