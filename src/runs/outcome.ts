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
  /** interrupted: stopped on purpose; the run keeps its committed pages and can be resumed. */
  status: 'succeeded' | 'failed' | 'interrupted';
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
  errorCode: ErrorCode | null;
  error: string | null;
}
