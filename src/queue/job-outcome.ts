// The one place that decides what a run's outcome means for its job: done, try again later
// (the job's attempts and backoff), never again (unrecoverable: settings and credentials do not
// fix themselves), pause the whole queue (a 429 storm: more attempts would only feed it), or
// back to the queue untouched (the run was stopped, not failed, and resumes from its pages).
import { describeHolder } from '../runs/lock.js';
import { AccountSyncError, errorCodeOf, oneLineMessage, type ErrorCode } from '../errors.js';
import type { GuardedOutcome } from '../sync/guarded.js';
import type { SyncJobResult } from './names.js';

/** Failures no retry can fix; the job fails at once with the reason. */
export const UNRECOVERABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CONFIG_INVALID',
  'SIGNING_KEY_INVALID',
  'UPVEST_TOKEN_INVALID',
  'UPVEST_FORBIDDEN',
  'UPVEST_UNAUTHORIZED',
  'UPVEST_BAD_REQUEST',
  'UPVEST_NOT_ACCEPTABLE',
  'UPVEST_VERSION_RETIRED',
]);

/** `stopped`: the run's signal had fired (shutdown) when it threw, e.g. while waiting for the lock. */
export type JobOutcome = GuardedOutcome | { kind: 'threw'; error: unknown; stopped?: boolean };

export type JobVerdict =
  /** `followUp`: ask for a full run at once, for this reason (the run could not prove it listed everything). */
  | { kind: 'complete'; result: SyncJobResult; note?: string; followUp?: string }
  /** Back to waiting without using an attempt; the next worker resumes the run. */
  | { kind: 'requeue'; reason: string }
  /** Pause the queue for `ms`, then run the job again without using an attempt. */
  | { kind: 'pause-queue'; ms: number; reason: string }
  | { kind: 'fail'; error: JobFailure }
  | { kind: 'retry'; error: JobFailure };

/** The error a job fails with: the code first, so the failed reason reads like the run's. */
export class JobFailure extends AccountSyncError {
  override readonly name = 'JobFailure';
  readonly runId: bigint | null;

  constructor(code: ErrorCode, message: string, runId: bigint | null) {
    super(code, `${code}: ${message}${runId === null ? '' : ` (sync run ${runId})`}`);
    this.runId = runId;
  }
}

export function judgeOutcome(
  outcome: JobOutcome,
  options: { rateLimitPauseMs: number; redact?: (text: string) => string },
): JobVerdict {
  if (outcome.kind === 'threw') {
    const message = (options.redact ?? ((text: string) => text))(oneLineMessage(outcome.error));
    if (outcome.stopped) return { kind: 'requeue', reason: `stopped before the run began: ${message}` };
    // runSync throws only when the database is unreachable: worth another attempt later.
    return { kind: 'retry', error: new JobFailure(errorCodeOf(outcome.error), message, null) };
  }
  if (outcome.kind === 'locked') {
    // Another process is running a sync right now; this one would only repeat it.
    const skipped = `another sync is running: ${describeHolder(outcome.holder)}`;
    return { kind: 'complete', result: { skipped }, note: skipped };
  }
  const { summary } = outcome;
  switch (summary.status) {
    case 'succeeded':
      return { kind: 'complete', result: resultOf(outcome) };
    case 'interrupted':
      if (summary.errorCode === 'UPVEST_RATE_LIMITED') {
        // The run spent its request retries on 429s: Upvest wants less traffic, not more. It kept
        // its pages, so the job resumes it once the pause is over.
        return { kind: 'pause-queue', ms: options.rateLimitPauseMs, reason: `UPVEST_RATE_LIMITED: ${summary.error ?? ''} (sync run ${summary.runId})` };
      }
      return {
        kind: 'requeue',
        reason: outcome.lockLost ? 'the run lock was lost' : (summary.error ?? 'interrupted'),
      };
    case 'incomplete':
      // Retrying the same walk would meet the same gap; a full walk can prove what this could not.
      return { kind: 'complete', result: resultOf(outcome), followUp: summary.error ?? 'incomplete' };
    case 'failed': {
      const code = summary.errorCode ?? 'UNKNOWN';
      const error = new JobFailure(code, summary.error ?? 'failed', summary.runId);
      if (UNRECOVERABLE_CODES.has(code)) return { kind: 'fail', error };
      return { kind: 'retry', error };
    }
  }
}

function resultOf(outcome: Extract<GuardedOutcome, { kind: 'ran' }>): SyncJobResult {
  const s = outcome.summary;
  return {
    runId: String(s.runId),
    status: s.status === 'succeeded' || s.status === 'incomplete' ? s.status : 'failed',
    resumed: outcome.resumed !== null,
    accountsSeen: s.accountsSeen,
    inserted: s.inserted,
    updated: s.updated,
    statusChanges: s.statusChanges,
    deletions: s.deletions,
    rejected: s.rejected,
    retries: s.retries,
    errorCode: s.errorCode,
  };
}
