// The last passes of every run that walked to its end: newest first, down to the run's
// watermark, so that whatever changed while the walk went on (and, for a resumed run, while it
// was stopped) is written too, and the run that exits 0 leaves the mirror current. An account
// changed during a pass of several pages may jump from ahead of its cursor to behind it; so
// after such a pass, one small request asks whether anything changed since it began, and if so
// another pass follows, down to where the last one began. A pass of one page needs no such
// check: nothing can jump over the cursor of a single request. When nothing changed the whole
// catch-up is one small request. Each pass proves what it listed by its keys, and closes its
// gaps (heal.ts).
import { AccountSyncError } from '../errors.js';
import type { OpenRun } from '../runs/lifecycle.js';
import { healGaps, type HealDeps, type HealOptions } from './heal.js';
import { toMicros } from '../mirror/timestamps.js';
import { newestUpdate, walkNewestFirst, type FetchedPage } from './walk.js';

/** Pages of the catch-up pass are small: there is usually little to catch up with. */
export const CATCH_UP_PAGE_SIZE = 100;

/** Passes before the run gives up on ever catching up with a list that keeps changing. */
export const MAX_CATCH_UP_PASSES = 5;

export interface CatchUpOptions {
  maxPages: number;
  lagMs: number;
  overlap: number;
  /** The number of this attempt's first pass (a resumed run's passes follow its earlier ones). */
  firstPass: number;
  heal: HealOptions;
}

export async function catchUp(
  deps: HealDeps,
  run: OpenRun,
  options: CatchUpOptions,
  /** Queues a page of pass `pass`; `commit` resolves once every queued page is committed. */
  write: (page: FetchedPage, pass: number) => Promise<void>,
  commit: () => Promise<void>,
): Promise<void> {
  const lagMicros = BigInt(options.lagMs) * 1000n;
  const watermark = run.watermark === null ? undefined : toMicros(run.watermark);
  // No watermark: the list was empty when the run began, so everything listed now is new.
  // Fetched down to `newerThan` less the lag; owed (proven) only above `newerThan`.
  let newerThan = watermark ?? -1n;
  const limit = Math.min(CATCH_UP_PAGE_SIZE, run.pageSize);
  for (let pass = options.firstPass; pass < options.firstPass + MAX_CATCH_UP_PASSES; pass += 1) {
    let pages = 0;
    let newest: bigint | undefined;
    await walkNewestFirst(
      deps.client,
      { limit, overlap: options.overlap, maxPages: options.maxPages, sinceMicros: newerThan - lagMicros, signal: deps.signal, firstIndex: options.heal.nextIndex() },
      async (page) => {
        pages += 1;
        newest ??= newestOf(page);
        await write(page, pass);
      },
    );
    await commit();
    const windowsBefore = options.heal.budget.used;
    await healGaps(deps, { runId: run.runId, pass, sort: 'updated_at', order: 'DESC', newerThanMicros: newerThan }, options.heal, async (page) => {
      await write(page, pass);
      await commit();
    });
    // One response in all (no window either): nothing can have jumped over its cursor.
    if (pages + options.heal.budget.used - windowsBefore <= 1 || newest === undefined) return;
    // Nothing updated since this pass began: nothing can have jumped over its cursor.
    const now = await newestUpdate(deps.client, deps.signal);
    if (now === null || (toMicros(now) ?? newest) <= newest) return;
    newerThan = newest;
  }
  throw new AccountSyncError(
    'SYNC_WALK_UNPROVEN',
    `accounts kept changing during ${MAX_CATCH_UP_PASSES} catch-up passes: one changed during a pass may have moved past its cursor`,
  );
}

/** The newest updated_at on the first page of a pass (its first readable one): what a later change is newer than. */
function newestOf(page: FetchedPage): bigint | undefined {
  for (const record of page.page.data) {
    const value = record !== null && typeof record === 'object' ? (record as Record<string, unknown>).updated_at : undefined;
    const micros = typeof value === 'string' ? toMicros(value) : undefined;
    if (micros !== undefined) return micros;
  }
  return undefined;
}
