// One sync run, in steps: open it (or resume it where a stopped one left off), walk the pages
// (each validated and committed as it arrives), go back for whatever the walk may have stepped
// over (heal.ts), catch up newest first with what changed meanwhile, settle deletions, then
// finish it: assess the walk, mark the accounts gone deleted, record the outcome. Upstream
// failures end the run as failed (recorded, and returned), a walk that cannot prove it listed
// every account as incomplete; only an unreachable database escapes as an exception.
//
// A full run walks the whole list oldest-first and is the only kind that may mark accounts
// deleted. An incremental run walks newest-first and stops at the previous run's watermark.
import { withRunDefaults, type RunOptions } from '../config/sync.js';
import type { PrismaClient } from '../db/prisma.js';
import { AccountSyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { openRun, resumeRun, type DeletionDecision, type OpenRun } from '../runs/lifecycle.js';
import type { RunSummary } from '../runs/outcome.js';
import { lastCatchUpPass } from '../runs/sql/pages.js';
import type { RunMode } from '../runs/sql/runs.js';
import { assessRunWalk, type RunWalk } from '../runs/walk-verdict.js';
import type { UpvestClient } from '../upvest/client.js';
import { catchUp } from './catch-up.js';
import { decideDeletions } from './deletions.js';
import type { SyncProgress } from './progress.js';
import { finish } from './run-finish.js';
import { foundPage, pagesOf, type RunPages } from './run-pages.js';
import { walkAndHeal } from './run-walk.js';

export type { RunSummary, SyncProgress };

export interface SyncDeps {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  now?: () => Date;
  onProgress?: (progress: SyncProgress) => void;
  signal?: AbortSignal;
  /**
   * Scrubs secrets (the settings' and every access token received) from text the run stores:
   * its error, and what it keeps of rejected records. Applied before anything is written.
   */
  redact?: (text: string) => string;
}

/**
 * What runSync is given: a run's options (RunOptions, src/config/sync.ts), those left out or
 * undefined taking the settings' defaults, and which run this is.
 */
export type SyncOptions = Pick<RunOptions, 'pageSize' | 'concurrency' | 'maxPages'> &
  Partial<RunOptions> & {
    /** Default 'full'. 'incremental' falls back to a full run when no run has succeeded yet. */
    mode?: RunMode;
    /**
     * Continue this run (left `running` or `interrupted`) from its last committed page instead of
     * starting a new run at page one.
     */
    resumeRunId?: bigint;
  };

/** The options runSync works with: every one of a run's options, and which run this is. */
export type RunWith = RunOptions & { mode?: RunMode; resumeRunId?: bigint };

export async function runSync(deps: SyncDeps, given: SyncOptions): Promise<RunSummary> {
  const options: RunWith = withRunDefaults(given);
  const context = { now: deps.now ?? (() => new Date()), redact: deps.redact ?? ((text: string) => text) };
  const run = await startRun(deps, options, context.now);
  const logger = deps.logger.child({ runId: String(run.runId) });
  logger.info(
    { mode: run.mode, pageSize: run.pageSize, concurrency: options.concurrency, since: run.since, resumedPages: run.donePages.length },
    options.resumeRunId === undefined ? 'sync run started' : 'sync run resumed',
  );
  const pages = await pagesOf(deps, run, options, { ...context, logger });
  let failure = await walkAndHeal(deps, run, options, pages, logger);
  let settlement: Settlement = { deletions: { kind: 'none', note: null }, assessed: undefined };
  if (failure === undefined) {
    try {
      settlement = await settleRun(deps, run, options, pages, logger);
    } catch (error) {
      failure = error;
    }
  }
  return finish(
    deps,
    run,
    failure,
    {
      deletions: settlement.deletions,
      assessed: failure === undefined ? settlement.assessed : undefined,
      healRequests: pages.heal.budget.used,
      incrementalLagMs: options.incrementalLagMs,
    },
    { ...context, logger },
  );
}

/** Opens a new run, or resumes the one it was told to. */
async function startRun(deps: SyncDeps, options: RunWith, now: () => Date): Promise<OpenRun> {
  if (options.resumeRunId !== undefined) return resumeRun(deps.prisma, options.resumeRunId);
  return openRun(deps.prisma, {
    mode: options.mode ?? 'full',
    pageSize: options.pageSize,
    pageOverlap: options.pageOverlap,
    startedAt: now(),
    incrementalLagMs: options.incrementalLagMs,
  });
}

interface Settlement {
  deletions: DeletionDecision;
  assessed: RunWalk | undefined;
}

/**
 * After a walk that healed its gaps: the catch-up pass, the walk judged again from what was
 * committed, and what the run settles about deletions. Throws what stops the run.
 */
async function settleRun(deps: SyncDeps, run: OpenRun, options: RunWith, pages: RunPages, logger: Logger): Promise<Settlement> {
  const upvest = { prisma: deps.prisma, client: deps.client, logger, signal: deps.signal };
  await catchUp(
    upvest,
    run,
    {
      maxPages: options.maxPages,
      lagMs: options.incrementalLagMs,
      overlap: run.pageOverlap,
      firstPass: (await lastCatchUpPass(deps.prisma, run.runId)) + 1,
      heal: pages.heal,
    },
    (page, pass) => pages.queue('catch_up', pass)(page),
    () => pages.writer.flush(),
  );
  await pages.writer.flush();
  const walk = await assessRunWalk(deps.prisma, { runId: run.runId, mode: run.mode, since: run.since, lagMs: options.incrementalLagMs, walkFinished: true });
  // What healGaps proved, judged once more from what was committed: never succeed without it.
  if (!walk.consistentWalk) {
    throw new AccountSyncError('SYNC_WALK_UNPROVEN', `the walk cannot prove it listed every account: ${walk.assessment.reasons.join('; ')}`);
  }
  const deletions = await decideDeletions(
    upvest,
    { runId: run.runId, mode: run.mode },
    walk,
    { maxChecks: options.maxDeletionChecks },
    async (records) => pages.committed('lookup')(foundPage(pages.nextIndex(), records)),
  );
  return { deletions, assessed: walk };
}
