// Accounts that share their sort key, served in a fresh order on every request (see
// Dataset.shuffleTies): the page's window is widened until every tie group it cuts is whole,
// then each group is shuffled, so both sides of a page's edge are cut from one permutation.
import type { Prng } from './hash.js';

/** The page at `offset` of `limit`, ties shuffled; `indices(low, asked)` is the unshuffled order. */
export function shuffleTiesOfWindow(
  rng: Prng,
  offset: number,
  limit: number,
  indices: (low: number, asked: number) => number[],
  keyOf: (index: number) => number,
): number[] {
  for (let pad = 16; ; pad *= 4) {
    const low = Math.max(0, offset - pad);
    const asked = offset - low + limit + pad;
    const window = indices(low, asked);
    const first = offset - low;
    const last = Math.min(window.length, first + limit) - 1;
    if (first >= window.length) return [];
    const keys = window.map(keyOf);
    let runStart = first;
    while (runStart > 0 && keys[runStart - 1] === keys[first]) runStart--;
    let runEnd = last;
    while (runEnd < window.length - 1 && keys[runEnd + 1] === keys[last]) runEnd++;
    // A tie group cut off by the window: look further, so that it is shuffled whole.
    if ((low > 0 && runStart === 0) || (window.length === asked && runEnd === window.length - 1)) continue;
    for (let start = runStart; start <= runEnd; ) {
      let end = start;
      while (end < runEnd && keys[end + 1] === keys[start]) end++;
      for (let i = end; i > start; i--) {
        const j = start + rng.int(i - start + 1);
        [window[i], window[j]] = [window[j]!, window[i]!];
      }
      start = end + 1;
    }
    return window.slice(first, last + 1);
  }
}
