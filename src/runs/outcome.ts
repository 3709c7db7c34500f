// What a run amounts to: its totals, and the summary a finished (or stopped) run reports.
import type { ErrorCode } from '../errors.js';
import type { RunMode } from './sql/runs.js';

/** What a run did to the mirror, as its job result, `status` and the status page carry it. */
export interface RunCounts {
  /** Distinct accounts listed: each page after the first repeats the previous page's last one. */
  accountsSeen: number;
  inserted: number;
  updated: number;
  statusChanges: number;
  deletions: number;
  rejected: number;
  retries: number;
}

export interface RunTotals extends RunCounts {
  pages: number;
  unchanged: number;
}

export interface RunSummary extends RunTotals {
  runId: bigint;
  /**
   * interrupted: stopped on purpose; the run keeps its committed pages and can be resumed.
   * incomplete: it could not prove that it listed every account (SYNC_WALK_UNPROVEN); it keeps
   * what it wrote, marks nothing deleted, and the next run is a full one.
   */
  status: 'succeeded' | 'failed' | 'interrupted' | 'incomplete';
  mode: RunMode;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  totalCount: number | null;
  walkComplete: boolean;
  walkConsistent: boolean;
  inconsistencies: string[];
  /** Whether the run settled deletions (null when it did not get that far), and if not, why. */
  deletionsComplete: boolean | null;
  deletionsNote: string | null;
  /** Windows the run fetched to close gaps its pages left (see src/sync/heal.ts). */
  healRequests: number;
  errorCode: ErrorCode | null;
  error: string | null;
}
