// The sync job's processor: run one guarded sync and turn its verdict into what BullMQ
// understands. The job carries no run id: which run to continue is decided under the run lock
// (src/sync/guarded.ts), so a job delivered again after its worker died finds the run by itself.
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { GuardedOutcome } from '../sync/guarded.js';
import { judgeOutcome, type JobOutcome } from './job-outcome.js';
import type { SyncJobData, SyncJobResult } from './names.js';

export interface SyncProcessorDeps {
  /** One guarded run, stopped by `signal`. */
  run(signal: AbortSignal): Promise<GuardedOutcome>;
  /** Pauses every worker of the queue (BullMQ's queue-wide rate limit). */
  rateLimit(ms: number): Promise<void>;
  /** Aborted when the process is shutting down. */
  shutdown: AbortSignal;
  rateLimitPauseMs: number;
  /** Scrubs secrets from a failed reason before it is stored on the job in Redis. */
  redact?: (text: string) => string;
  logger: Logger;
  onOutcome?: (outcome: JobOutcome) => void;
  onRateLimitPause?: (ms: number) => void;
  /** Queues a full run to start at once (see JobVerdict's followUp). */
  requestFollowUp?: () => Promise<void>;
}

export type SyncProcessor = (job: Job<SyncJobData, SyncJobResult>, token?: string, signal?: AbortSignal) => Promise<SyncJobResult>;

export function createSyncProcessor(deps: SyncProcessorDeps): SyncProcessor {
  // Three parameters: BullMQ hands a cancellation signal only to processors that take one.
  return async (job, token, signal) => {
    const logger = deps.logger.child({ jobId: job.id, reason: job.data.reason, attempt: job.attemptsMade + 1 });
    const stop = signal ? AbortSignal.any([deps.shutdown, signal]) : deps.shutdown;
    let outcome: JobOutcome;
    try {
      outcome = await deps.run(stop);
    } catch (error) {
      outcome = { kind: 'threw', error, stopped: stop.aborted };
    }
    deps.onOutcome?.(outcome);
    const verdict = judgeOutcome(outcome, { rateLimitPauseMs: deps.rateLimitPauseMs, redact: deps.redact });
    switch (verdict.kind) {
      case 'complete':
        if (verdict.note) logger.warn(`sync job skipped: ${verdict.note}`);
        if (verdict.followUp) await followUp(job, verdict.followUp, deps, logger);
        return verdict.result;
      case 'requeue':
        logger.info(`sync job back in the queue (${verdict.reason}); its run resumes from its committed pages`);
        await job.moveToWait(token);
        throw new WaitingError();
      case 'pause-queue':
        logger.warn(`pausing the queue for ${verdict.ms} ms after a 429 storm: ${verdict.reason}`);
        deps.onRateLimitPause?.(verdict.ms);
        await deps.rateLimit(verdict.ms);
        throw Worker.RateLimitError();
      case 'fail':
        logger.error({ code: verdict.error.code }, `sync job failed for good: ${verdict.error.message}`);
        throw new UnrecoverableError(verdict.error.message);
      case 'retry':
        logger.warn({ code: verdict.error.code }, `sync job failed, the queue retries it: ${verdict.error.message}`);
        throw verdict.error;
    }
  };
}

/**
 * After a run that could not prove it listed every account: a full run at once, which can. Only
 * once in a row: a follow-up that is itself incomplete (a tie group larger than a page, say)
 * would otherwise loop; the schedule carries on from there.
 */
async function followUp(job: Job<SyncJobData, SyncJobResult>, why: string, deps: SyncProcessorDeps, logger: Logger): Promise<void> {
  if (job.data.reason === 'follow-up' || !deps.requestFollowUp) {
    logger.error(`sync run incomplete again (${why}); the next scheduled run tries once more`);
    return;
  }
  try {
    await deps.requestFollowUp();
    logger.warn(`sync run incomplete (${why}); a full run is queued to start at once`);
  } catch (error) {
    logger.error(`sync run incomplete (${why}); could not queue a full run, the schedule will: ${error instanceof Error ? error.message : String(error)}`);
  }
}
