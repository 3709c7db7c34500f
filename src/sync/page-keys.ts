// The sort key of a page's records as far as coverage needs it (src/runs/coverage.ts): its
// first and last key, where its head and tail tie groups end, and whether its records came in
// the order asked for at all (a page that did not proves nothing by key).
import type { PageKeys } from '../runs/coverage.js';
import { toMicros } from '../mirror/timestamps.js';

export type { PageKeys };

/**
 * Keys of the records at `positions` of a page of `count` records (those with a valid key, in
 * page order). Null when none has one, or when they are not in the order asked for.
 */
export function pageKeysOf(keyed: ReadonlyArray<{ position: number; key: string }>, count: number, ascending: boolean): PageKeys | null {
  if (keyed.length === 0) return null;
  let previous: { text: string; micros: bigint } | undefined;
  let firstRunEnd: number | undefined;
  /** Position of the last record before the current run of equal keys. */
  let beforeLastRun: number | undefined;
  let previousPosition = -1;
  for (const { position, key } of keyed) {
    // Bulk-created accounts repeat their key text: no need to parse it again.
    const micros = previous !== undefined && key === previous.text ? previous.micros : toMicros(key);
    if (micros === undefined) return null;
    if (previous !== undefined && micros !== previous.micros) {
      if (ascending ? micros < previous.micros : micros > previous.micros) return null;
      firstRunEnd ??= position;
      beforeLastRun = previousPosition;
    }
    previous = { text: key, micros };
    previousPosition = position;
  }
  return {
    firstKey: keyed[0]!.key,
    lastKey: keyed[keyed.length - 1]!.key,
    headTies: firstRunEnd ?? count,
    tailTies: beforeLastRun === undefined ? count : count - beforeLastRun - 1,
  };
}
