// Offset paging over "all indices except a few": with a sorted array of the excluded indices,
// the k-th remaining index is found by binary search, so removals among a million accounts
// cost O(log r) per page instead of a scan.

/**
 * The k-th (0-based) non-negative integer not in `excluded` (sorted ascending, unique), and the
 * position in `excluded` of the first excluded value above it.
 */
export function nthIncluded(excluded: readonly number[], k: number): { value: number; pointer: number } {
  let lo = 0;
  let hi = excluded.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    // excluded[mid] - mid is how many included values lie below excluded[mid].
    if (excluded[mid]! - mid <= k) lo = mid + 1;
    else hi = mid;
  }
  return { value: k + lo, pointer: lo };
}

/** Appends `count` included values starting at rank `k`, ascending. */
export function pushAscending(excluded: readonly number[], k: number, count: number, out: number[]): void {
  if (count <= 0) return;
  let { value, pointer } = nthIncluded(excluded, k);
  for (let emitted = 0; emitted < count; emitted++) {
    while (pointer < excluded.length && excluded[pointer] === value) {
      value++;
      pointer++;
    }
    out.push(value);
    value++;
  }
}

/** Appends `count` included values starting at rank `k` and going down, descending. */
export function pushDescending(excluded: readonly number[], k: number, count: number, out: number[]): void {
  if (count <= 0) return;
  const start = nthIncluded(excluded, k);
  let value = start.value;
  let pointer = start.pointer - 1;
  for (let emitted = 0; emitted < count; emitted++) {
    while (pointer >= 0 && excluded[pointer] === value) {
      value--;
      pointer--;
    }
    out.push(value);
    value--;
  }
}

/** Inserts into a sorted array unless present; returns whether it was inserted. */
export function sortedInsert(array: number[], value: number): boolean {
  const at = lowerBound(array, value);
  if (array[at] === value) return false;
  array.splice(at, 0, value);
  return true;
}

/** Removes from a sorted array if present; returns whether it was there. */
export function sortedRemove(array: number[], value: number): boolean {
  const at = lowerBound(array, value);
  if (array[at] !== value) return false;
  array.splice(at, 1);
  return true;
}

export function lowerBound(array: readonly number[], value: number): number {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
