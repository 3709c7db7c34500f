// The BullMQ queue and worker of the sync, configured for one run at a time and for quick
// recovery of a job whose worker died.
import { Queue, Worker } from 'bullmq';
import type { QueueConfig } from '../config/queue.js';
import type { Logger } from '../logger.js';
import { QUEUE_NAME, syncJobOptions, type SyncJobData, type SyncJobResult } from './names.js';
import type { SyncProcessor } from './processor.js';
import type { Redis } from './redis.js';
import type { SyncQueue } from './scheduler.js';

export type SyncWorker = Worker<SyncJobData, SyncJobResult>;

export function createSyncQueue(redis: Redis, config: QueueConfig): SyncQueue {
  return new Queue<SyncJobData, SyncJobResult>(QUEUE_NAME, {
    connection: redis,
    prefix: config.prefix,
    defaultJobOptions: syncJobOptions(config),
  });
}

/**
 * Not started: call `run()`. A job whose worker dies is noticed once its lock has not been
 * renewed for `lockDurationMs` by the next stalled check (every `stalledIntervalMs`, by any
 * worker), and is handed to the next free worker; `maxStalledCount` bounds how often one job
 * may kill its worker before it is failed.
 */
export function createSyncWorker(deps: {
  redis: Redis;
  config: QueueConfig;
  processor: SyncProcessor;
  logger: Logger;
  name: string;
}): SyncWorker {
  const { config, logger } = deps;
  const worker = new Worker<SyncJobData, SyncJobResult>(QUEUE_NAME, deps.processor, {
    connection: deps.redis,
    prefix: config.prefix,
    name: deps.name,
    autorun: false,
    // One sync per process; the queue's global concurrency (scheduler.ts) makes it one overall.
    concurrency: 1,
    lockDuration: config.lockDurationMs,
    stalledInterval: config.stalledIntervalMs,
    maxStalledCount: config.maxStalledCount,
    // While the queue is paused for a 429 storm, look again at least this often.
    maximumRateLimitDelay: Math.min(config.rateLimitPauseMs, 30_000),
  });
  let lastError = '';
  let lastErrorAt = 0;
  worker.on('error', (error) => {
    // During a Redis outage the same error repeats every reconnect; say it once a minute.
    const now = Date.now();
    if (error.message === lastError && now - lastErrorAt < 60_000) return;
    lastError = error.message;
    lastErrorAt = now;
    logger.warn({ err: error }, `queue worker: ${error.message}`);
  });
  worker.on('stalled', (jobId) => {
    logger.warn({ jobId }, `sync job ${jobId} lost its worker (stalled); it goes back to the queue`);
  });
  worker.on('failed', (job, error) => {
    if (!job) return;
    const final = job.finishedOn !== undefined && job.finishedOn > 0;
    logger.info(
      { jobId: job.id, attemptsMade: job.attemptsMade, final, failedReason: error.message },
      final ? `sync job ${job.id} failed` : `sync job ${job.id} failed, will be retried`,
    );
  });
  return worker;
}
