import { describe, expect, it } from 'vitest';
import { assessWalk, expectedRepeats, type PageMeta } from '../../src/runs/assessment.js';
import { pageOffset, pagesFor } from '../../src/sync/walk.js';

/** Pages of a list of `total` items a, b, c... as a stable server would serve them. */
function stablePages(total: number, limit: number): PageMeta[] {
  return Array.from({ length: pagesFor(total, limit) }, (_, index) => {
    const offset = pageOffset(index, limit);
    const count = Math.max(0, Math.min(limit, total - offset));
    return { index, offset, count, totalCount: total, firstId: `id-${offset}`, lastId: `id-${offset + count - 1}` };
  });
}

describe('page planning', () => {
  it('overlaps consecutive pages by one item and covers the whole list', () => {
    expect([0, 1, 2, 3].map((i) => pageOffset(i, 100))).toEqual([0, 99, 198, 297]);
    expect(pagesFor(0, 100)).toBe(1);
    expect(pagesFor(100, 100)).toBe(1);
    expect(pagesFor(101, 100)).toBe(2);
    expect(pagesFor(199, 100)).toBe(2);
    expect(pagesFor(200, 100)).toBe(3);
    expect(pagesFor(1_000_000, 1000)).toBe(1001);
  });
});

describe('walk assessment', () => {
  it('trusts a stable walk, whose only repeats are the overlaps', () => {
    const pages = stablePages(250, 100);
    expect(pages.map((p) => [p.offset, p.count])).toEqual([[0, 100], [99, 100], [198, 52]]);
    expect(expectedRepeats(pages)).toBe(2);
    expect(assessWalk(pages, 100, 0)).toEqual({ complete: true, consistent: true, reasons: [] });
  });

  it('flags a changed total', () => {
    const pages = stablePages(250, 100);
    pages[2] = { ...pages[2]!, totalCount: 251 };
    expect(assessWalk(pages, 100, 0)).toEqual({
      complete: true,
      consistent: false,
      reasons: ['total_count changed from 250 to 251 (page at offset 198)'],
    });
  });

  it('flags items that shifted between pages, even when the total stayed the same', () => {
    const pages = stablePages(250, 100);
    // An account ahead of the cursor was removed and another added at the end.
    // Every later item moved up by one: page 1 misses id-99, page 2 still lines up with page 1.
    pages[1] = { ...pages[1]!, firstId: 'id-100', lastId: 'id-199' };
    pages[2] = { ...pages[2]!, firstId: 'id-199' };
    expect(assessWalk(pages, 100, 0).reasons).toEqual(['items shifted between the pages at offsets 0 and 99']);
  });

  it('flags a page that came back short before the end, and a walk that never reached it', () => {
    const pages = stablePages(350, 100);
    pages[1] = { ...pages[1]!, count: 60, lastId: 'id-158' };
    const result = assessWalk(pages.slice(0, 2), 100, 0);
    expect(result.complete).toBe(true);
    expect(result.reasons).toEqual(['the list ended after 159 items but total_count is 350']);
    const withLater = assessWalk(pages, 100, 0);
    expect(withLater.reasons).toContain('page at offset 99 came back short (60 of 100) before the end');
    expect(assessWalk(stablePages(350, 100).slice(0, 3), 100, 0)).toEqual({
      complete: false,
      consistent: false,
      reasons: ['the walk did not reach the end of the list'],
    });
  });

  it('flags ids repeated beyond the overlaps', () => {
    expect(assessWalk(stablePages(250, 100), 100, 3).reasons).toEqual(['3 account id(s) listed more than once']);
  });

  it('judges pages given in any order (parallel fetches commit out of order)', () => {
    const pages = stablePages(1000, 100).reverse();
    expect(assessWalk(pages, 100, 0).consistent).toBe(true);
  });
});
