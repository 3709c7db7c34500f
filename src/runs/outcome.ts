// What a run amounts to: its totals, and the summary a finished (or stopped) run reports.
import type { ErrorCode } from '../errors.js';
import type { RunMode } from './sql/runs.js';

export interface RunTotals {
  pages: number;
  accountsSeen: number;
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  deletions: number;
  rejected: number;
  retries: number;
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
  errorCode: ErrorCode | null;
  error: string | null;
}
