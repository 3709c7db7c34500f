// SYNC_* of one run: how it walks Upvest, and how it treats a run a stopped process left behind.
// Both `sync` and the daemon run with what runOptionsOf builds from it; a run's options (RunOptions)
// are these settings, and their defaults (RUN_DEFAULTS) the declared ones, read as an unset
// environment reads them: there is no other default for them anywhere.
import { parseSection, section, withDefault } from './setting.js';
import { trueOrFalse, wholeNumber } from './values.js';
import type { ExtraLimits } from '../upvest/schema.js';

export interface SyncConfig {
  pageSize: number;
  /** Records consecutive pages share: where their keys differ, nothing between them was stepped over. */
  pageOverlap: number;
  /** Windows a run may fetch to close the gaps its pages leave (see src/sync/heal.ts). */
  maxHealRequests: number;
  concurrency: number;
  /** No run fetches more pages than this, whatever total_count says. */
  maxPages: number;
  /** Accounts an unsure walk did not list that a run looks up one by one before settling deletions. */
  maxDeletionChecks: number;
  /** Incremental runs reach back this far before the last watermark. */
  incrementalLagMs: number;
  /** Recognise pages served exactly as a full run last wrote them, and skip writing them. */
  skipUnchangedPages: boolean;
  /** Load a first sync's new accounts by COPY; off, every page is written as an upsert. */
  bulkLoad: boolean;
  /**
   * With bulkLoad, a first sync into an empty mirror of at least this many accounts (page one's
   * total_count) drops the secondary indexes and builds them after its walk. Smaller, they stay
   * in PostgreSQL's buffer cache and the drop and build would only add time.
   */
  deferIndexesFrom: number;
  /** Scheduled runs are full at least this often; incremental in between. */
  fullIntervalMs: number;
  /** An abandoned run idle for longer than this is closed as failed instead of resumed. */
  resumeWithinMs: number;
  /** How long a queued run waits for another process's run to end before it is skipped. */
  lockWaitMs: number;
  /** Bounds on the fields the schema does not know, kept as JSON (see src/upvest/schema.ts). */
  extraLimits: ExtraLimits;
}

export const sync = section(
  {
    SYNC_PAGE_SIZE: withDefault(wholeNumber(2, 10_000), '1000', 'accounts per page'),
    SYNC_PAGE_OVERLAP: withDefault(
      wholeNumber(1, 1_000),
      '10',
      'accounts consecutive pages share; where they hold two different created_at, nothing between the pages can have been stepped over (more than the largest group of accounts created at one instant saves requests)',
    ),
    SYNC_MAX_HEAL_REQUESTS: withDefault(
      wholeNumber(0, 1_000_000),
      '1000',
      'requests a run may make to go back for accounts its pages may have stepped over (the list moved under the walk, or a tie of the sort key straddled a page edge); past it the run ends incomplete',
    ),
    SYNC_CONCURRENCY: withDefault(wholeNumber(1, 64), '4', 'pages fetched and written at once'),
    SYNC_MAX_PAGES: withDefault(wholeNumber(1, 100_000_000), '100000', 'no run fetches more pages'),
    SYNC_MAX_DELETION_CHECKS: withDefault(
      wholeNumber(0, 1_000_000),
      '1000',
      'live accounts an unsure walk did not list that are looked up one by one (GET /accounts/{id}) before deletions are settled',
    ),
    SYNC_INCREMENTAL_LAG_MS: withDefault(wholeNumber(0, 86_400_000), '60000', 'how far an incremental run reaches back before the watermark'),
    SYNC_FULL_INTERVAL_MS: withDefault(wholeNumber(60_000, 30 * 86_400_000), '86400000', 'scheduled runs are full at least this often'),
    SYNC_SKIP_UNCHANGED_PAGES: withDefault(trueOrFalse, 'true', 'record a page served as the last full run wrote it without writing it'),
    SYNC_BULK_LOAD: withDefault(trueOrFalse, 'true', "load a first sync's new accounts with COPY, building an empty mirror's secondary indexes after its walk (false: upsert every page, keep every index)"),
    SYNC_DEFER_INDEXES_FROM: withDefault(
      wholeNumber(0, 1_000_000_000),
      '200000',
      "a first sync builds an empty mirror's secondary indexes after its walk only when Upvest lists at least this many accounts (below, they stay in memory and cost little)",
    ),
    SYNC_RESUME_WITHIN_MS: withDefault(wholeNumber(0, 30 * 86_400_000), '21600000', 'a left-behind run active within this long is resumed'),
    SYNC_LOCK_WAIT_MS: withDefault(wholeNumber(0, 3_600_000), '10000', "how long a queued run waits for another process's run"),
    SYNC_EXTRA_MAX_BYTES: withDefault(
      wholeNumber(2, 1_000_000),
      '16384',
      "bytes of JSON the fields Upvest sends that account-sync does not know may take, per account and per user (kept in extra); a record past it is kept aside with the reason",
    ),
    SYNC_EXTRA_MAX_DEPTH: withDefault(
      wholeNumber(1, 100),
      '8',
      'how deeply those fields may nest (their object is depth 1); a record past it is kept aside with the reason',
    ),
  },
  (v): SyncConfig => ({
    pageSize: v.SYNC_PAGE_SIZE,
    pageOverlap: v.SYNC_PAGE_OVERLAP,
    maxHealRequests: v.SYNC_MAX_HEAL_REQUESTS,
    concurrency: v.SYNC_CONCURRENCY,
    maxPages: v.SYNC_MAX_PAGES,
    maxDeletionChecks: v.SYNC_MAX_DELETION_CHECKS,
    incrementalLagMs: v.SYNC_INCREMENTAL_LAG_MS,
    skipUnchangedPages: v.SYNC_SKIP_UNCHANGED_PAGES,
    bulkLoad: v.SYNC_BULK_LOAD,
    deferIndexesFrom: v.SYNC_DEFER_INDEXES_FROM,
    fullIntervalMs: v.SYNC_FULL_INTERVAL_MS,
    resumeWithinMs: v.SYNC_RESUME_WITHIN_MS,
    lockWaitMs: v.SYNC_LOCK_WAIT_MS,
    extraLimits: { bytes: v.SYNC_EXTRA_MAX_BYTES, depth: v.SYNC_EXTRA_MAX_DEPTH },
  }),
);

/** One run's options, whoever starts it (`sync`, the daemon, the demo, a test): how it walks and writes. */
export type RunOptions = Omit<SyncConfig, 'lockWaitMs' | 'fullIntervalMs' | 'resumeWithinMs'>;

/** What every guarded run takes from the settings: a run's options, how its mode is chosen and runs left behind are treated. */
export type RunSettings = RunOptions & Pick<SyncConfig, 'fullIntervalMs' | 'resumeWithinMs'>;

export function runOptionsOf(config: { sync: SyncConfig }): RunSettings {
  // The lock wait is each caller's own: `sync` gives up at once or waits (--wait), the daemon waits SYNC_LOCK_WAIT_MS.
  const { lockWaitMs: _own, ...settings } = config.sync;
  return settings;
}

/** A run's options as the settings' declared defaults give them. */
export const RUN_DEFAULTS: Readonly<RunOptions> = (() => {
  const { lockWaitMs: _lock, fullIntervalMs: _full, resumeWithinMs: _resume, ...defaults } = parseSection(sync, {});
  return defaults;
})();

/** The given options over the defaults; an option given as undefined takes its default. */
export function withRunDefaults<T extends Partial<RunOptions>>(given: T): RunOptions & T {
  const set = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined));
  return { ...RUN_DEFAULTS, ...set } as RunOptions & T;
}
