// Runs left `running` or `interrupted` by a process that died or was stopped. Only called by
// the holder of the run lock: while we hold it nobody else is running one, so every such run
// is ours to settle. The newest is resumed when it is recent enough; the rest are closed as
// failed with the reason, so no row stays `running` forever.
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { finishRun } from './lifecycle.js';
import { unfinishedRuns, type UnfinishedRun } from './sql/runs.js';

export type AbandonedRun = UnfinishedRun;

export interface Settlement {
  /** The run to continue, if any. */
  resume: AbandonedRun | null;
  /** Runs closed as failed, with why. */
  closed: Array<{ run: AbandonedRun; reason: string }>;
}

/**
 * Decides, and records, what becomes of each abandoned run. A run idle for longer than
 * `resumeWithinMs` is not resumed: its committed pages describe a listing too old to finish
 * consistently, and a fresh walk is as cheap as checking them all again.
 */
export async function settleAbandonedRuns(
  prisma: PrismaClient,
  options: { resumeWithinMs: number; now: () => Date; logger: Logger },
): Promise<Settlement> {
  const now = options.now();
  const settlement: Settlement = { resume: null, closed: [] };
  for (const run of await unfinishedRuns(prisma)) {
    const idleMs = now.getTime() - run.lastActivityAt.getTime();
    const reason = abandonReason(run, idleMs, settlement.resume, options.resumeWithinMs);
    if (reason === null) {
      settlement.resume = run;
      continue;
    }
    await finishRun(prisma, {
      runId: run.runId,
      mode: run.mode,
      status: 'failed',
      pageSize: run.pageSize,
      finishedAt: now,
      walkFinished: false,
      error: { code: 'SYNC_ABANDONED', message: reason },
      deletions: { kind: 'none', note: null },
    });
    settlement.closed.push({ run, reason });
    options.logger.warn({ runId: String(run.runId), status: run.status, idleMs }, `sync run ${run.runId} closed as failed: ${reason}`);
  }
  return settlement;
}

/** Why the run is closed instead of resumed; null when it is the one to resume. */
function abandonReason(run: AbandonedRun, idleMs: number, resumed: AbandonedRun | null, resumeWithinMs: number): string | null {
  if (resumed !== null) {
    return `abandoned: its process stopped while it was ${run.status}; superseded by run ${resumed.runId}, which was resumed instead`;
  }
  if (!run.resumable) {
    return `abandoned: its process stopped while it was ${run.status}, and it was begun by an earlier release, whose pages this one cannot judge; a new run starts from the first page`;
  }
  if (idleMs > resumeWithinMs) {
    return (
      `abandoned: its process stopped while it was ${run.status} and it was idle for ${formatDuration(idleMs)}, ` +
      `longer than SYNC_RESUME_WITHIN_MS (${formatDuration(resumeWithinMs)}); a new run starts from the first page`
    );
  }
  return null;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
