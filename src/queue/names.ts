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
/** Deduplicates follow-up runs: the job asking for one is still active, so it cannot share the id above. */
export const FOLLOW_UP_DEDUPLICATION_ID = 'sync-follow-up';

/** follow-up: a full run asked for at once after a run that could not prove it listed every account. */
export type SyncJobReason = 'schedule' | 'startup' | 'trigger' | 'follow-up';

export interface SyncJobData {
  reason: SyncJobReason;
}

/** What a completed job returns (kept on the job in Redis). */
export type SyncJobResult =
  | (RunCounts & { runId: string; status: 'succeeded' | 'failed' | 'incomplete'; resumed: boolean; errorCode: string | null })
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
