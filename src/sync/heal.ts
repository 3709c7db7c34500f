// Going back for what a walk may have stepped over. After a walk (or a catch-up pass), its
// committed pages are judged by their keys (src/runs/coverage.ts); each gap they leave (an
// account removed ahead of the cursor moved the next page past accounts never listed; a tie of
// the sort key straddled a page edge) is closed by fetching a window around it, one request
// that holds every account from before the gap to after it, and writing that window as a page
// of the run. Closed, the walk proves that it listed every account listed throughout it; a gap
// it cannot close (a tie group larger than a page, a list that keeps moving faster than the
// windows, SYNC_MAX_HEAL_REQUESTS spent) ends the run as incomplete, with the reason.
import { AccountSyncError } from '../errors.js';
import type { Db } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { describeMicros, storedMicros } from '../runs/assessment.js';
import { coverageGaps, coverageVerdict, type CoveragePage, type Gap } from '../runs/coverage.js';
import { coveragePages, type StoredCoverage } from '../runs/sql/pages.js';
import type { UpvestClient } from '../upvest/client.js';
import { fetchedPage, type FetchedPage } from './walk.js';

export interface HealDeps {
  prisma: Db;
  client: UpvestClient;
  logger: Logger;
  signal?: AbortSignal;
}

/** Which pages, in which order, and how far they must reach. */
export interface CoverageScope {
  runId: bigint;
  /** 0: the walk and its windows; n: catch-up pass n. */
  pass: number;
  sort: 'created_at' | 'updated_at';
  order: 'ASC' | 'DESC';
  /**
   * Newest-first walks must prove every account updated after this (microseconds); the walk of
   * a full run, the whole list.
   */
  newerThanMicros?: bigint;
}

export interface HealOptions {
  /** The largest page the server serves: no window is larger. */
  maxLimit: number;
  /** Windows this run may still fetch (SYNC_MAX_HEAL_REQUESTS, shared by all its passes). */
  budget: { remaining: number; used: number };
  /** The index the next window is recorded under. */
  nextIndex: () => number;
}

/** Windows fetched for the same gap before it is given up (each moves twice as far as the last). */
const ATTEMPTS_PER_GAP = 12;

/**
 * The search for where a gap lies now: the last window fetched for it, and the offsets windows
 * proved too early (every account below the gap) or too late (every account at it or above).
 */
interface GapSearch {
  offset: number;
  limit: number;
  index: number;
  attempt: number;
  tooEarly?: number;
  tooLate?: number;
}

/**
 * Closes every gap the scope's pages leave, writing each window with `write` (which must have
 * committed it when it resolves). Throws SYNC_WALK_UNPROVEN when it cannot.
 */
export async function healGaps(
  deps: HealDeps,
  scope: CoverageScope,
  options: HealOptions,
  write: (page: FetchedPage) => Promise<void>,
): Promise<void> {
  const searches = new Map<bigint, GapSearch>();
  for (;;) {
    const stored = await coveragePages(deps.prisma, scope.runId, scope.pass);
    const pages = stored.map((page) => inWalkOrder(page, scope.order));
    const gaps = coverageGaps(pages, untilOf(scope));
    if (gaps.length === 0) return;
    const gap = gaps[0]!;
    const why = (reason: string) => unproven(scope, gaps, reason);
    if (options.budget.remaining <= 0) throw why(`SYNC_MAX_HEAL_REQUESTS (${options.budget.used}) windows were spent`);
    const last = searches.get(gap.from);
    if (last && last.attempt + 1 >= ATTEMPTS_PER_GAP) throw why(`${ATTEMPTS_PER_GAP} windows around the same gap did not close it`);
    const next = last
      ? nextWindow(gap, last, pages.find((page) => page.index === last.index), options.maxLimit)
      : { ...windowFor(gap, 0, options.maxLimit, shiftOf(stored)) };
    if (next === 'too-large') throw why(`more than ${options.maxLimit - 2} accounts share one ${scope.sort}, more than a page can prove`);
    if (next === 'short') throw why('the list ends before the total_count Upvest gives for it, so its end cannot be proven');
    options.budget.remaining -= 1;
    options.budget.used += 1;
    const index = options.nextIndex();
    searches.set(gap.from, { ...last, ...next, index, attempt: last ? last.attempt + 1 : 0 });
    const window = { offset: next.offset, limit: next.limit };
    deps.logger.debug({ pass: scope.pass, ...window, gap: describeGap(gap, scope.order) }, 'fetching a window to close a gap');
    const page = await deps.client.listAccounts({ ...window, sort: scope.sort, order: scope.order }, deps.signal);
    await write(fetchedPage(index, window.offset, window.limit, page));
  }
}

/**
 * Where to look next for a gap the last window did not close, from what that window held:
 * nothing usable (past the end, or out of order) or only accounts from the gap on: the list
 * moved down since, look further back; only accounts below the gap: look further on; between
 * a window too early and one too late, halfway; a tie group at the gap's key running past the
 * window's end: a page that starts just before the group, if it is not that page already.
 */
export function nextWindow(
  gap: Gap,
  last: GapSearch,
  seen: CoveragePage | undefined,
  maxLimit: number,
): Pick<GapSearch, 'offset' | 'limit' | 'tooEarly' | 'tooLate'> | 'too-large' | 'short' {
  const step = Math.max(1, last.limit - 2) * 2 ** last.attempt;
  const between = (tooEarly: number | undefined, tooLate: number | undefined, fallback: number) =>
    tooEarly !== undefined && tooLate !== undefined ? Math.floor((tooEarly + tooLate) / 2) : fallback;
  const usable = seen && seen.count > 0 && seen.firstKey !== null && seen.lastKey !== null;
  if (!usable || (seen.offset > 0 && seen.firstKey! >= gap.from)) {
    const tooLate = Math.min(last.offset, last.tooLate ?? Infinity);
    return { limit: last.limit, tooEarly: last.tooEarly, tooLate, offset: Math.max(0, between(last.tooEarly, tooLate, last.offset - step)) };
  }
  if (seen.lastKey! < gap.from && !seen.endsList) {
    const tooEarly = Math.max(last.offset, last.tooEarly ?? -1);
    return { limit: last.limit, tooEarly, tooLate: last.tooLate, offset: between(tooEarly, last.tooLate, last.offset + step) };
  }
  // The window began below the gap and came back short of its limit, yet not at its total: the
  // server lists fewer than it says there are.
  if (seen.count < last.limit && !seen.endsList) return 'short';
  // The window began below the gap and ends in it: a tie at the gap's key longer than the window.
  const groupStart = seen.offset + seen.count - seen.tailTies - 1;
  if (last.limit === maxLimit && groupStart <= last.offset) return 'too-large';
  return { offset: Math.max(0, groupStart), limit: maxLimit };
}

function untilOf(scope: CoverageScope): bigint | undefined {
  // Newest first, keys run negated: every key above `newerThan` is one below -newerThan.
  return scope.newerThanMicros === undefined ? undefined : -scope.newerThanMicros;
}

/** The stored page with its keys as microseconds in the walk's direction. */
export function inWalkOrder(page: StoredCoverage, order: 'ASC' | 'DESC'): CoveragePage {
  const key = (text: string | null) => {
    const micros = text === null ? null : storedMicros(text);
    return micros === null ? null : order === 'ASC' ? micros : -micros;
  };
  return { ...page, firstKey: key(page.firstKey), lastKey: key(page.lastKey) };
}

/**
 * Where the gap lies now, as well as the pages around it can tell: from the last account below
 * its key in the page below, to the first account above it in the page above, widened on both
 * sides by how far the list has moved since (`shift`) and more with every attempt, as far as a
 * page of `maxLimit` allows. Wider than a page, it starts at the gap: what it lists moves the
 * gap on, and the next window closes the rest.
 */
export function windowFor(gap: Gap, attempt: number, maxLimit: number, shift: number): { offset: number; limit: number } {
  const below = gap.below;
  const start = Math.max(0, below ? below.offset + below.count - below.tailTies - 1 : 0);
  // A page that proves only above its left-out accounts' key (see coveragePages) says nothing of
  // where its first account above that key is: a whole page from the gap on.
  const end = gap.above && !gap.above.reduced ? gap.above.offset + gap.above.headTies : start + maxLimit - 1;
  const need = Math.max(2, end - start + 1);
  if (need >= maxLimit) return { offset: start, limit: Math.max(2, maxLimit) };
  const slack = Math.min(shift + 2 * 4 ** attempt, Math.floor((maxLimit - need) / 2));
  const offset = Math.max(0, start - slack);
  return { offset, limit: Math.max(2, Math.min(maxLimit, end + slack - offset + 1)) };
}

/** How many accounts the list gained or lost between the first and the latest page: how far offsets may have moved. */
function shiftOf(pages: ReadonlyArray<StoredCoverage>): number {
  if (pages.length === 0) return 0;
  const totals = pages.map((page) => page.totalCount);
  return Math.max(...totals) - Math.min(...totals);
}

function describeKey(key: bigint, order: 'ASC' | 'DESC'): string {
  return describeMicros(order === 'ASC' ? key : -key);
}

function describeGap(gap: Gap, order: 'ASC' | 'DESC'): string {
  return coverageVerdict([gap], (key) => describeKey(key, order)).reasons[0]!;
}

function unproven(scope: CoverageScope, gaps: ReadonlyArray<Gap>, reason: string): AccountSyncError {
  const what = scope.pass === 0 ? 'the walk' : `catch-up pass ${scope.pass}`;
  const verdict = coverageVerdict(gaps, (key) => describeKey(key, scope.order));
  return new AccountSyncError('SYNC_WALK_UNPROVEN', `${what} cannot prove it listed every account (${reason}): ${verdict.reasons.join('; ')}`);
}
