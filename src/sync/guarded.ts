// One sync run under the run lock: take the lock, settle the runs that dead or stopped
// processes left behind (resuming the newest where it can), run, let go. Shared by the daemon's
// job processor and `account-sync sync`, so both follow the same rules.
import type { RunSettings } from '../config/sync.js';
import { assertMigrated } from '../db/migration-check.js';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { runSync, type SyncOptions, type SyncProgress } from './run.js';
import type { UpvestClient } from '../upvest/client.js';
import { settleAbandonedRuns, type AbandonedRun } from '../runs/abandoned.js';
import { countResumption, scheduledMode } from '../runs/lifecycle.js';
import { acquireRunLock, type LockHolder } from '../runs/lock.js';
import type { RunSummary } from '../runs/outcome.js';
import type { RunMode } from '../runs/sql/runs.js';

export interface GuardedRunDeps {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  databaseUrl: string;
  /** Names this process in pg_stat_activity, which is what a blocked `sync` reports. */
  applicationName: string;
  now?: () => Date;
  onProgress?: (progress: SyncProgress) => void;
  /** Scrubs secrets from what the run stores (see SyncDeps.redact). */
  redact?: (text: string) => string;
}

/**
 * A run's options as runSync takes them (those left out take the settings' defaults), how its
 * mode is chosen and runs left behind are treated (src/config/sync.ts), and what only a guarded
 * run is told.
 */
export type GuardedRunOptions = Omit<SyncOptions, 'mode' | 'resumeRunId'> &
  Pick<RunSettings, 'fullIntervalMs' | 'resumeWithinMs'> & {
  /**
   * The mode of a new run; 'scheduled' lets the history decide (full when none succeeded
   * within `fullIntervalMs`, incremental otherwise). A resumed run keeps its own.
   */
  mode: RunMode | 'scheduled';
  /** 0: give up at once when another run holds the lock; Infinity: wait for it. */
  lockWaitMs: number;
  signal?: AbortSignal;
};

export type GuardedOutcome =
  | {
      kind: 'ran';
      summary: RunSummary;
      /** The abandoned run this continued, when it did. */
      resumed: AbandonedRun | null;
      /** Abandoned runs closed as failed before this one started. */
      closed: AbandonedRun[];
      /** The run stopped because the lock's connection was lost, not because we were told to. */
      lockLost: boolean;
    }
  | { kind: 'locked'; holder: LockHolder | null };

/**
 * Rejects only when the database is unreachable (DB_UNAVAILABLE, or Prisma's own error) or
 * lacks migrations this version needs (DB_NOT_MIGRATED).
 */
export async function runGuarded(deps: GuardedRunDeps, options: GuardedRunOptions): Promise<GuardedOutcome> {
  const now = deps.now ?? (() => new Date());
  const { mode: _mode, lockWaitMs: _wait, signal: _signal, fullIntervalMs: _full, resumeWithinMs: _resume, ...runOptions } = options;
  await assertMigrated(deps.prisma);
  const attempt = await acquireRunLock(deps.databaseUrl, {
    applicationName: deps.applicationName,
    waitMs: options.lockWaitMs,
    signal: options.signal,
  });
  if (!attempt.acquired) return { kind: 'locked', holder: attempt.holder };
  const { lock } = attempt;
  try {
    const settlement = await settleAbandonedRuns(deps.prisma, {
      resumeWithinMs: options.resumeWithinMs,
      now,
      logger: deps.logger,
    });
    const resume = settlement.resume;
    if (resume) {
      const resumes = await countResumption(deps.prisma, resume.runId, now());
      deps.logger.info(
        { runId: String(resume.runId), previousStatus: resume.status, resumes },
        `resuming sync run ${resume.runId}, left ${resume.status} by a process that ${resume.status === 'interrupted' ? 'was stopped' : 'died'}`,
      );
    }
    const signal = options.signal ? AbortSignal.any([options.signal, lock.lost]) : lock.lost;
    const mode = options.mode === 'scheduled' ? await scheduledMode(deps.prisma, options.fullIntervalMs, now()) : options.mode;
    const summary = await runSync(
      { prisma: deps.prisma, client: deps.client, logger: deps.logger, now, onProgress: deps.onProgress, signal, redact: deps.redact },
      { ...runOptions, mode, resumeRunId: resume?.runId },
    );
    return {
      kind: 'ran',
      summary,
      resumed: resume,
      closed: settlement.closed.map((c) => c.run),
      lockLost: lock.lost.aborted && !(options.signal?.aborted ?? false),
    };
  } finally {
    await lock.release();
  }
}
