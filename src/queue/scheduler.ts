// The schedule lives in Redis as one BullMQ job scheduler. Every replica puts it there at
// start-up under the same id (an upsert, so several replicas leave exactly one), and keeps
// putting it back: a Redis that restarted without its data has no schedule and no queue
// settings, and nothing else would notice.
import type { Queue } from 'bullmq';
import type { ScheduleConfig } from '../config/schedule.js';
import { oneLineMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Redis } from './redis.js';
import { JOB_NAME, SCHEDULER_ID, type SyncJobData, type SyncJobOptions, type SyncJobResult } from './names.js';

export type ScheduleSpec = { every: number } | { pattern: string; tz: string };

export type SyncQueue = Queue<SyncJobData, SyncJobResult>;

export function scheduleSpec(schedule: ScheduleConfig): ScheduleSpec {
  return schedule.cron ? { pattern: schedule.cron.pattern, tz: schedule.cron.tz } : { every: schedule.intervalMs };
}

export function describeSchedule(spec: ScheduleSpec): string {
  return 'every' in spec ? `every ${spec.every} ms` : `cron "${spec.pattern}" (${spec.tz})`;
}

/**
 * Makes Redis hold the schedule and the queue's one-at-a-time setting; says what it changed.
 * Global concurrency 1 is what keeps two replicas from taking two jobs at once.
 */
export async function ensureSchedule(
  queue: SyncQueue,
  spec: ScheduleSpec,
  jobOptions: SyncJobOptions,
): Promise<'created' | 'updated' | 'unchanged'> {
  if ((await queue.getGlobalConcurrency()) !== 1) await queue.setGlobalConcurrency(1);
  const existing = await queue.getJobScheduler(SCHEDULER_ID);
  const same =
    existing !== undefined &&
    ('every' in spec
      ? Number(existing.every) === spec.every && !existing.pattern
      : existing.pattern === spec.pattern && (existing.tz ?? 'UTC') === spec.tz && !existing.every);
  if (same) return 'unchanged';
  await queue.upsertJobScheduler(SCHEDULER_ID, spec, {
    name: JOB_NAME,
    data: { reason: 'schedule' },
    opts: jobOptions,
  });
  return existing === undefined ? 'created' : 'updated';
}

export interface ScheduleKeeper {
  /** The first check, done (or failed and logged). */
  readonly started: Promise<void>;
  stop(): void;
}

/**
 * Checks the schedule now, whenever the Redis connection becomes ready again, and every
 * `checkEveryMs`. Failures are logged and retried on the next occasion, never thrown.
 */
export function keepSchedule(deps: {
  queue: SyncQueue;
  redis: Redis;
  spec: ScheduleSpec;
  jobOptions: SyncJobOptions;
  checkEveryMs: number;
  logger: Logger;
  onChecked?: (result: 'created' | 'updated' | 'unchanged') => void;
}): ScheduleKeeper {
  let running: Promise<void> | null = null;
  let stopped = false;
  const check = (why: string): Promise<void> => {
    if (stopped) return Promise.resolve();
    // One check at a time: during an outage a check waits for Redis, and the next ones would pile up.
    running ??= ensureSchedule(deps.queue, deps.spec, deps.jobOptions)
      .then((result) => {
        // Quiet when nothing changed, except at start-up: the log should say the schedule is there.
        const level = result === 'unchanged' && why !== 'start-up' ? 'debug' : 'info';
        deps.logger[level](
          { schedulerId: SCHEDULER_ID, schedule: describeSchedule(deps.spec), result, why },
          `sync schedule ${result === 'unchanged' ? 'in place' : result}: ${describeSchedule(deps.spec)}`,
        );
        deps.onChecked?.(result);
      })
      .catch((error: unknown) => {
        if (!stopped) deps.logger.warn({ why }, `could not check the sync schedule: ${oneLineMessage(error)}`);
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
  const onReady = () => void check('redis connection ready');
  deps.redis.on('ready', onReady);
  const timer = setInterval(() => void check('periodic check'), deps.checkEveryMs);
  timer.unref();
  const started = check('start-up');
  return {
    started,
    stop() {
      stopped = true;
      clearInterval(timer);
      deps.redis.off('ready', onReady);
    },
  };
}
