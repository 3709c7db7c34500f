// Runs asked for outside the schedule: `account-sync trigger`, and the worker's start-up run
// when the mirror is stale. Never a second run while one is waiting or running: a pending
// job (even the schedule's own) answers the request, and BullMQ deduplication closes the gap
// between looking and adding.
import { oneLineMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { JOB_NAME, REQUEST_DEDUPLICATION_ID, type SyncJobOptions, type SyncJobReason } from './names.js';
import type { SyncQueue } from './scheduler.js';

export interface PendingJob {
  jobId: string;
  state: 'active' | 'waiting' | 'delayed';
}

export type RunRequest = { added: true; jobId: string } | ({ added: false } & PendingJob);

/** A delayed job due within this long counts as pending: it is about to run anyway. */
const DUE_SOON_MS = 1_000;

/** The job that will run or is running, if there is one. */
export async function pendingRun(queue: SyncQueue, now = Date.now()): Promise<PendingJob | null> {
  const [active] = await queue.getJobs(['active'], 0, 0);
  if (active?.id) return { jobId: active.id, state: 'active' };
  const [waiting] = await queue.getJobs(['wait', 'prioritized'], 0, 0);
  if (waiting?.id) return { jobId: waiting.id, state: 'waiting' };
  const delayed = await queue.getJobs(['delayed'], 0, 9, true);
  const due = delayed.find((job) => job.id && job.timestamp + (job.delay ?? 0) <= now + DUE_SOON_MS);
  if (due?.id) return { jobId: due.id, state: 'delayed' };
  return null;
}

export async function requestRun(queue: SyncQueue, reason: SyncJobReason, jobOptions: SyncJobOptions): Promise<RunRequest> {
  const pending = await pendingRun(queue);
  if (pending) return { added: false, ...pending };
  const job = await queue.add(JOB_NAME, { reason }, { ...jobOptions, deduplication: { id: REQUEST_DEDUPLICATION_ID } });
  return { added: true, jobId: job.id ?? '?' };
}

/**
 * At start-up, asks for a run when the mirror is older than the schedule's interval (or has
 * never been synced), or when a run was left unfinished; the schedule alone could be an
 * interval (or a cron period) away. Errors are logged: the schedule still covers it.
 */
export async function requestStartupRun(deps: {
  /** When the last successful run finished (null: never), and how many runs are unfinished. */
  runState: () => Promise<{ lastSuccess: Date | null; unfinished: number }>;
  queue: SyncQueue;
  intervalMs: number;
  jobOptions: SyncJobOptions;
  logger: Logger;
  now?: () => Date;
}): Promise<RunRequest | null> {
  const now = (deps.now ?? (() => new Date()))();
  try {
    const { lastSuccess, unfinished } = await deps.runState();
    const stale = lastSuccess === null || now.getTime() - lastSuccess.getTime() > deps.intervalMs;
    if (!stale && unfinished === 0) return null;
    const request = await requestRun(deps.queue, 'startup', deps.jobOptions);
    deps.logger.info(
      { lastSuccess: lastSuccess?.toISOString() ?? null, unfinished, ...request },
      request.added
        ? `start-up run queued (${unfinished > 0 ? 'a run was left unfinished' : 'the mirror is older than the interval'})`
        : `start-up run not needed: job ${request.jobId} is already ${request.state}`,
    );
    return request;
  } catch (error) {
    deps.logger.warn(`could not decide on a start-up run: ${oneLineMessage(error)}`);
    return null;
  }
}
