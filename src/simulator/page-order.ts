// The dataset's two orderings, as account indices. created_at is the index order minus the
// removed accounts. updated_at is "base indices minus the changed or removed ones" followed by
// the "tail" (added and changed accounts, which are all newer than any untouched base account),
// rebuilt lazily from the overrides only, so its cost grows with the number of changes.
import type { AccountFields } from './base-accounts.js';
import type { Override, SortField, SortOrder } from './dataset-types.js';
import { lowerBound, pushAscending, pushDescending } from './ordering.js';

/** The dataset's state the orderings are built from (read, never written). */
export interface OrderSource {
  readonly baseCount: number;
  readonly added: readonly AccountFields[];
  readonly overrides: ReadonlyMap<number, Override>;
  /** Removed indices, sorted. */
  readonly removed: readonly number[];
  updatedUsOf(index: number): number;
}

export function isRemovedFrom(removed: readonly number[], index: number): boolean {
  return removed[lowerBound(removed, index)] === index;
}

export class PageOrder {
  private dirty = true;
  private updatedExcluded: number[] = [];
  private updatedTail: number[] = [];

  constructor(private readonly source: OrderSource) {}

  /** After any change of updated_at, addition, removal or restoration. */
  invalidate(): void {
    this.dirty = true;
  }

  /** The page's account indices among `total` live accounts; offsets past the end give an empty page. */
  indices(total: number, sort: SortField, order: SortOrder, offset: number, limit: number): number[] {
    const n = Math.max(0, Math.min(limit, total - offset));
    const out: number[] = [];
    if (n === 0) return out;
    const removed = this.source.removed;
    if (sort === 'created_at') {
      if (order === 'ASC') pushAscending(removed, offset, n, out);
      else pushDescending(removed, total - 1 - offset, n, out);
      return out;
    }
    this.refresh();
    const baseLive = this.source.baseCount - this.updatedExcluded.length;
    const tail = this.updatedTail;
    if (order === 'ASC') {
      pushAscending(this.updatedExcluded, offset, Math.min(n, baseLive - offset), out);
      for (let p = Math.max(0, offset - baseLive); out.length < n; p++) out.push(tail[p]!);
    } else {
      for (let p = tail.length - 1 - offset; p >= 0 && out.length < n; p--) out.push(tail[p]!);
      const rank = baseLive - 1 - Math.max(0, offset - tail.length);
      pushDescending(this.updatedExcluded, rank, n - out.length, out);
    }
    return out;
  }

  private refresh(): void {
    if (!this.dirty) return;
    const { baseCount: n, added, overrides, removed } = this.source;
    const excluded = new Set<number>();
    const tail: number[] = [];
    for (const index of overrides.keys()) {
      if (index < n) excluded.add(index);
      if (!isRemovedFrom(removed, index)) tail.push(index);
    }
    for (const index of removed) if (index < n) excluded.add(index);
    for (let k = 0; k < added.length; k++) {
      const index = n + k;
      if (!overrides.has(index) && !isRemovedFrom(removed, index)) tail.push(index);
    }
    this.updatedExcluded = [...excluded].sort((a, b) => a - b);
    const keyed = tail.map((index) => ({ index, at: this.source.updatedUsOf(index) }));
    keyed.sort((a, b) => a.at - b.at || a.index - b.index);
    this.updatedTail = keyed.map((k) => k.index);
    this.dirty = false;
  }
}
