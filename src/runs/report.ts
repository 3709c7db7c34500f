// How runs and the mirror's freshness are reported, alike by `account-sync status` and the
// status page: the newest runs (a run in progress counted from its committed pages) and
// whether the last successful run is recent enough (stale past twice the schedule's interval).
import type { Db } from '../db/prisma.js';
import { latestRuns, type RunRow } from './sql/reports.js';
import { lastSuccessfulRun } from './sql/runs.js';

export type MirrorState = 'ok' | 'stale' | 'never_succeeded';

export interface Freshness {
  state: MirrorState;
  staleAfterMs: number;
  lastSuccess: { runId: string; finishedAt: string; ageMs: number } | null;
}

export interface RunReport {
  id: string;
  mode: string;
  /** running | succeeded | failed | interrupted */
  status: string;
  startedAt: string;
  finishedAt: string | null;
  /** Until now for a run that has not finished. */
  durationMs: number;
  /** Whether the counters below are the committed pages so far rather than the run's totals. */
  inProgress: boolean;
  pages: number;
  accountsSeen: number;
  /** Inserted plus updated. */
  accountsWritten: number;
  accountsInserted: number;
  accountsUpdated: number;
  statusChanges: number;
  deletions: number;
  rejectedRecords: number;
  retries: number;
  errorCode: string | null;
  /** As stored: redacted before it was written. */
  error: string | null;
}

/** The newest `count` runs as reported, and the rows they came from (for progress). */
export async function reportRuns(db: Db, count: number, now: Date): Promise<{ runs: RunReport[]; rows: RunRow[] }> {
  const rows = await latestRuns(db, count);
  return { rows, runs: rows.map((row) => runReportOf(row, now.getTime())) };
}

export async function mirrorFreshness(db: Db, intervalMs: number, now: Date): Promise<Freshness> {
  const success = await lastSuccessfulRun(db);
  const staleAfterMs = 2 * intervalMs;
  const ageMs = success ? Math.max(0, Math.round(now.getTime() - success.finishedAt.getTime())) : null;
  return {
    state: ageMs === null ? 'never_succeeded' : ageMs > staleAfterMs ? 'stale' : 'ok',
    staleAfterMs,
    lastSuccess: success && ageMs !== null ? { runId: String(success.runId), finishedAt: success.finishedAtUtc, ageMs } : null,
  };
}

function runReportOf(run: RunRow, nowMs: number): RunReport {
  return {
    id: run.id,
    mode: run.mode,
    status: run.status,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    durationMs: Math.max(0, Math.round((run.finishedMs ?? nowMs) - run.startedMs)),
    inProgress: run.inProgress,
    pages: run.pages,
    accountsSeen: run.accountsSeen,
    accountsWritten: run.inserted + run.updated,
    accountsInserted: run.inserted,
    accountsUpdated: run.updated,
    statusChanges: run.statusChanges,
    deletions: run.deletions,
    rejectedRecords: run.rejected,
    retries: run.retries,
    errorCode: run.errorCode,
    error: run.error,
  };
}
