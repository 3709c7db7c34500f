// Runs left `running` or `interrupted` by a process that died or was stopped. Only called by
// the holder of the run lock: while we hold it nobody else is running one, so every such run
// is ours to settle. The newest is resumed when it is recent enough; the rest are closed as
// failed with the reason, so no row stays `running` forever.
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { closeRun, type RunMode } from '../sync/runs.js';

export interface AbandonedRun {
  runId: bigint;
  status: 'running' | 'interrupted';
  startedAt: Date;
  /** The last sign of life: its last committed page, its interruption, or its start. */
  lastActivityAt: Date;
}

export interface Settlement {
  /** The run to continue, if any. */
  resume: AbandonedRun | null;
  /** Runs closed as failed, with why. */
  closed: Array<{ run: AbandonedRun; reason: string }>;
}

export async function findAbandonedRuns(prisma: PrismaClient): Promise<AbandonedRun[]> {
  const rows = await prisma.$queryRaw<
    Array<{ id: bigint; status: 'running' | 'interrupted'; started_at: Date; last_activity_at: Date }>
  >`
    SELECT r.id, r.status, r.started_at,
           greatest(r.started_at, r.finished_at, r.resumed_at,
                    (SELECT max(p.committed_at) FROM sync_run_pages p WHERE p.sync_run_id = r.id)) AS last_activity_at
    FROM sync_runs r
    WHERE r.status IN ('running', 'interrupted')
    ORDER BY r.started_at DESC, r.id DESC`;
  return rows.map((row) => ({
    runId: row.id,
    status: row.status,
    startedAt: row.started_at,
    lastActivityAt: row.last_activity_at,
  }));
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
  const abandoned = await findAbandonedRuns(prisma);
  const now = options.now();
  const settlement: Settlement = { resume: null, closed: [] };
  for (const run of abandoned) {
    const idleMs = now.getTime() - run.lastActivityAt.getTime();
    let reason: string | null = null;
    if (settlement.resume !== null) {
      reason = `abandoned: its process stopped while it was ${run.status}; superseded by run ${settlement.resume.runId}, which was resumed instead`;
    } else if (idleMs > options.resumeWithinMs) {
      reason =
        `abandoned: its process stopped while it was ${run.status} and it was idle for ${formatDuration(idleMs)}, ` +
        `longer than SYNC_RESUME_WITHIN_MS (${formatDuration(options.resumeWithinMs)}); a new run starts from the first page`;
    }
    if (reason === null) {
      settlement.resume = run;
      continue;
    }
    await closeAbandoned(prisma, run, reason, now);
    settlement.closed.push({ run, reason });
    options.logger.warn({ runId: String(run.runId), status: run.status, idleMs }, `sync run ${run.runId} closed as failed: ${reason}`);
  }
  return settlement;
}

async function closeAbandoned(prisma: PrismaClient, run: AbandonedRun, reason: string, now: Date): Promise<void> {
  const row = await prisma.syncRun.findUniqueOrThrow({ where: { id: run.runId }, select: { pageSize: true, mode: true } });
  await closeRun(prisma, {
    runId: run.runId,
    mode: row.mode as RunMode,
    status: 'failed',
    pageSize: row.pageSize,
    finishedAt: now,
    walkFinished: false,
    error: { code: 'SYNC_ABANDONED', message: reason },
  });
}

/** Records that `runId` is being resumed (sync_runs.resumes, resumed_at). */
export async function markResumed(prisma: PrismaClient, runId: bigint, at: Date): Promise<number> {
  const [row] = await prisma.$queryRaw<Array<{ resumes: number }>>`
    UPDATE sync_runs SET resumes = resumes + 1, resumed_at = ${at} WHERE id = ${runId} RETURNING resumes`;
  return row?.resumes ?? 0;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1_000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}
