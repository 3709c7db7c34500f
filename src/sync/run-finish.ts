// The end of a run: its status and error from what stopped it, the run closed by its owner, the
// planner's statistics refreshed, and the summary logged and returned.
import { databaseErrorCodeOf } from '../db/transactions.js';
import { errorCodeOf, oneLineMessage, type ErrorCode } from '../errors.js';
import { redactText, type Logger } from '../logger.js';
import { finishRun, type DeletionDecision, type OpenRun, type RunWalk } from '../runs/lifecycle.js';
import type { RunSummary } from '../runs/outcome.js';
import type { SyncDeps } from './run.js';
import { refreshStatistics } from './statistics.js';

/** Assesses the walk, marks deletions when it may, records the outcome: the run's summary. */
export async function finish(
  deps: SyncDeps,
  run: OpenRun,
  failure: unknown,
  settled: { deletions: DeletionDecision; assessed: RunWalk | undefined; healRequests: number; incrementalLagMs: number },
  context: { logger: Logger; now: () => Date; redact: (text: string) => string },
): Promise<RunSummary> {
  const finishedAt = context.now();
  const stopped = failure !== undefined && deps.signal?.aborted === true;
  // A run that ran out of patience with a throttling server is not wrong, only early: like a
  // stopped one it keeps its pages, and the next attempt resumes it.
  const throttled = failure !== undefined && errorCodeOf(failure) === 'UPVEST_RATE_LIMITED';
  const status: RunSummary['status'] =
    failure === undefined
      ? 'succeeded'
      : stopped || throttled
        ? 'interrupted'
        : errorCodeOf(failure) === 'SYNC_WALK_UNPROVEN'
          ? 'incomplete'
          : 'failed';
  const error: { code: ErrorCode; message: string } | null =
    failure === undefined
      ? null
      : stopped
        ? { code: 'SYNC_INTERRUPTED', message: `interrupted: ${oneLineMessage(deps.signal?.reason)}` }
        : { code: failureCodeOf(failure), message: context.redact(redactText(oneLineMessage(failure))) };
  const closed = await finishRun(deps.prisma, {
    runId: run.runId,
    mode: run.mode,
    status,
    pageSize: run.pageSize,
    finishedAt,
    walkFinished: failure === undefined,
    error,
    ...settled,
  });
  await refreshStatistics(deps.prisma, closed.totals, context.logger);
  const summary: RunSummary = {
    runId: run.runId,
    status,
    mode: run.mode,
    startedAt: run.startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - run.startedAt.getTime(),
    totalCount: closed.totalCount,
    ...closed.totals,
    walkComplete: closed.assessment.complete,
    walkConsistent: closed.assessment.consistent,
    inconsistencies: closed.assessment.reasons,
    deletionsComplete: closed.deletionsComplete,
    deletionsNote: closed.deletionsNote,
    healRequests: closed.healRequests,
    errorCode: error?.code ?? null,
    error: error?.message ?? null,
  };
  context.logger[status === 'succeeded' ? 'info' : 'error']({ ...summary, runId: String(run.runId) }, `sync run ${status}`);
  return summary;
}

/** A typed error's code; an untyped one from the database is DB_UNAVAILABLE or DB_ERROR. */
function failureCodeOf(failure: unknown): ErrorCode {
  const code = errorCodeOf(failure);
  return code === 'UNKNOWN' ? (databaseErrorCodeOf(failure) ?? 'UNKNOWN') : code;
}
