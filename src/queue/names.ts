// Names shared by everything that talks to the sync queue: the worker, `trigger`, the tests.
import type { JobsOptions } from 'bullmq';
import type { QueueConfig } from '../config/queue.js';
import type { RunCounts } from '../runs/outcome.js';

export const QUEUE_NAME = 'sync';
export const JOB_NAME = 'sync';
/** One id for the schedule: every replica upserts the same one, so there is only ever one. */
export const SCHEDULER_ID = 'sync-schedule';
/** Deduplicates runs asked for outside the schedule (start-up, `trigger`) while one is pending. */
export const REQUEST_DEDUPLICATION_ID = 'sync-requested';

export type SyncJobReason = 'schedule' | 'startup' | 'trigger';

export interface SyncJobData {
  reason: SyncJobReason;
}

/** What a completed job returns (kept on the job in Redis). */
export type SyncJobResult =
  | (RunCounts & { runId: string; status: 'succeeded' | 'failed'; resumed: boolean; errorCode: string | null })
  | { skipped: string };

export type SyncJobOptions = Pick<JobsOptions, 'attempts' | 'backoff' | 'removeOnComplete' | 'removeOnFail'>;

/** Attempts, backoff and retention of every sync job, scheduled or requested. */
export function syncJobOptions(config: QueueConfig): SyncJobOptions {
  return {
    attempts: config.attempts,
    backoff: { type: 'exponential', delay: config.backoffMs },
    // Enough history to see what happened lately without Redis growing for ever.
    removeOnComplete: { count: 100 },
    removeOnFail: { count: 500 },
  };
}
