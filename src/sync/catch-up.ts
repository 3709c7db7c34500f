// The last pass of every run that walked to its end: newest first, down to the run's
// watermark, so that whatever changed while the walk went on (and, for a resumed run, while it
// was stopped) is written too, and the run that exits 0 leaves the mirror current as of this
// pass. When nothing changed it is one small request.
import type { OpenRun } from '../runs/lifecycle.js';
import type { UpvestClient } from '../upvest/client.js';
import { toMicros } from './timestamps.js';
import { walkNewestFirst, type FetchedPage } from './walk.js';

/** Pages of the catch-up pass are small: there is usually little to catch up with. */
export const CATCH_UP_PAGE_SIZE = 100;

export async function catchUp(
  client: UpvestClient,
  run: OpenRun,
  options: { maxPages: number; lagMs: number; signal?: AbortSignal; firstIndex: number },
  handle: (page: FetchedPage) => Promise<void>,
): Promise<void> {
  const watermark = run.watermark === null ? undefined : toMicros(run.watermark);
  // No watermark: the list was empty when the run began, so everything listed now is new.
  const sinceMicros = watermark === undefined ? 0n : watermark - BigInt(options.lagMs) * 1000n;
  await walkNewestFirst(
    client,
    { limit: Math.min(CATCH_UP_PAGE_SIZE, run.pageSize), maxPages: options.maxPages, sinceMicros, signal: options.signal, firstIndex: options.firstIndex },
    handle,
  );
}
