// QUEUE_*: how the daemon's BullMQ queue hands out, retries and recovers sync jobs.
import { z } from 'zod';
import { section, withDefault } from './setting.js';
import { wholeNumber } from './values.js';

export interface QueueConfig {
  /** Redis key prefix of the queue; replicas that share it share one schedule and one queue. */
  prefix: string;
  /** Tries of one sync job before it is failed; configuration and auth errors fail at once. */
  attempts: number;
  /** First retry delay of a failed job; doubles on each further retry. */
  backoffMs: number;
  /** How long a worker's claim on a job lasts without renewal (renewed at half of it). */
  lockDurationMs: number;
  /** How often workers look for jobs whose worker died (their claim ran out). */
  stalledIntervalMs: number;
  /** How many times one job may be recovered from a dead worker before it is failed. */
  maxStalledCount: number;
  /** How long the whole queue pauses after a run ended in a 429 storm. */
  rateLimitPauseMs: number;
  /** How often the schedule is checked (and put back, e.g. after Redis lost its data). */
  scheduleCheckMs: number;
}

const prefix = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, { message: 'must be letters, digits, "_", ".", ":" or "-"' });

export const queue = section(
  {
    QUEUE_PREFIX: withDefault(prefix, 'account-sync', 'key prefix of the queue; replicas with the same one share a schedule'),
    QUEUE_JOB_ATTEMPTS: withDefault(wholeNumber(1, 100), '3', "tries of a failed run's job"),
    QUEUE_JOB_BACKOFF_MS: withDefault(wholeNumber(0, 86_400_000), '30000', 'first retry delay of a failed job, doubling'),
    QUEUE_LOCK_DURATION_MS: withDefault(wholeNumber(1_000, 3_600_000), '30000', "a worker's claim on its job"),
    QUEUE_STALLED_INTERVAL_MS: withDefault(wholeNumber(500, 3_600_000), '30000', 'how often workers look for jobs whose worker died'),
    QUEUE_MAX_STALLED_COUNT: withDefault(wholeNumber(0, 1_000), '3', 'how often one job may lose its worker'),
    QUEUE_RATE_LIMIT_PAUSE_MS: withDefault(wholeNumber(100, 86_400_000), '60000', 'pause of the queue after a 429 storm'),
    QUEUE_SCHEDULE_CHECK_MS: withDefault(wholeNumber(500, 3_600_000), '30000', 'how often each worker checks the schedule in Redis'),
  },
  (v): QueueConfig => ({
    prefix: v.QUEUE_PREFIX,
    attempts: v.QUEUE_JOB_ATTEMPTS,
    backoffMs: v.QUEUE_JOB_BACKOFF_MS,
    lockDurationMs: v.QUEUE_LOCK_DURATION_MS,
    stalledIntervalMs: v.QUEUE_STALLED_INTERVAL_MS,
    maxStalledCount: v.QUEUE_MAX_STALLED_COUNT,
    rateLimitPauseMs: v.QUEUE_RATE_LIMIT_PAUSE_MS,
    scheduleCheckMs: v.QUEUE_SCHEDULE_CHECK_MS,
  }),
);
