// One sync run: open its row, walk the pages, validate and commit each page as it arrives,
// then close the run with its totals. Upstream failures end the run as failed (recorded, and
// returned); only an unreachable database escapes as an exception.
//
// A full run walks the whole list oldest-first and is the only kind that may mark accounts
// deleted. An incremental run walks newest-first and stops at the previous run's watermark.
import { createHash } from 'node:crypto';
import { errorCodeOf, oneLineMessage } from '../errors.js';
import type { PrismaClient } from '../db/prisma.js';
import { redactText, type Logger } from '../logger.js';
import type { UpvestClient } from '../upvest/client.js';
import { isUuid } from '../upvest/schema.js';
import { checkPage } from './page-check.js';
import { closeRun, lastWatermark, openRun, resumeRun, setWatermark, type RunMode, type RunTotals } from './runs.js';
import { recordUnchangedPage, writePage, type PageWrite } from './store.js';
import { toMicros } from './timestamps.js';
import { newestUpdate, walkNewestFirst, walkPages, type FetchedPage, type PageMeta } from './walk.js';

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

export interface SyncOptions {
  pageSize: number;
  concurrency: number;
  /** SYNC_MAX_PAGES: no walk fetches more pages than this. */
  maxPages?: number;
  /** Default 'full'. 'incremental' falls back to a full run when no run has succeeded yet. */
  mode?: RunMode;
  /** Recognise pages served exactly as when last written, and skip writing them (default true). */
  skipUnchangedPages?: boolean;
  /** Incremental runs reach back this far before the previous watermark (Upvest-side lag). */
  incrementalLagMs?: number;
  /**
   * Continue this run (left `running` or `interrupted`) from its last committed page instead of
   * starting a new run at page one.
   */
  resumeRunId?: bigint;
}

export interface SyncProgress {
  runId: bigint;
  pagesDone: number;
  accountsDone: number;
  totalCount: number | null;
}

export interface RunSummary extends RunTotals {
  runId: bigint;
  /** interrupted: stopped by `signal`; the run keeps its committed pages and can be resumed. */
  status: 'succeeded' | 'failed' | 'interrupted';
  mode: RunMode;
  startedAt: Date;
  finishedAt: Date;
  durationMs: number;
  totalCount: number | null;
  walkComplete: boolean;
  walkConsistent: boolean;
  inconsistencies: string[];
  errorCode: string | null;
  error: string | null;
}

export async function runSync(deps: SyncDeps, options: SyncOptions): Promise<RunSummary> {
  const now = deps.now ?? (() => new Date());
  const redact = deps.redact ?? ((text: string) => text);
  const maxPages = options.maxPages ?? 100_000;
  let startedAt = now();
  let mode: RunMode = options.mode ?? 'full';
  let pageSize = options.pageSize;
  let done: PageMeta[] = [];
  let since: string | null = null;
  let watermark: string | null = null;
  let runId: bigint;
  if (options.resumeRunId !== undefined) {
    const resumed = await resumeRun(deps.prisma, options.resumeRunId);
    ({ runId, startedAt, pageSize, mode, since, watermark } = resumed);
    done = resumed.pages;
  } else {
    if (mode === 'incremental') {
      since = await lastWatermark(deps.prisma, options.incrementalLagMs ?? 60_000);
      if (since === null) mode = 'full';
    }
    runId = await openRun(deps.prisma, { mode, pageSize, startedAt, since });
  }
  const logger = deps.logger.child({ runId: String(runId) });
  logger.info(
    { mode, pageSize, concurrency: options.concurrency, since, resumedPages: done.length },
    options.resumeRunId === undefined ? 'sync run started' : 'sync run resumed',
  );

  let pagesDone = done.length;
  let accountsDone = done.reduce((sum, page) => sum + (page.index === 0 ? page.count : Math.max(0, page.count - 1)), 0);
  let totalCount: number | null = done[0]?.totalCount ?? null;
  const fingerprinting = mode === 'full' && options.skipUnchangedPages !== false;
  const handle = async (fetched: FetchedPage) => {
    const fingerprint = fingerprinting ? { limit: fetched.limit, digest: recordsDigest(fetched.page) } : undefined;
    const page = {
      runId,
      pageIndex: fetched.index,
      offset: fetched.offset,
      totalCount: fetched.totalCount,
      itemCount: fetched.count,
      firstId: fetched.firstId,
      lastId: fetched.lastId,
      retries: fetched.page.retries,
    };
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const listedIds = fingerprint ? usableIds(fetched.page.data) : null;
    const unchanged =
      fingerprint && listedIds && (await recordUnchangedPage(deps.prisma, { ...page, fingerprint, listedIds }));
    if (!unchanged) await validateAndWrite(fetched, page, fingerprint);
    if (fetched.index === 0 && fetched.limit !== pageSize) {
      // The server serves fewer per page than asked; a resumed run must walk the same layout.
      pageSize = fetched.limit;
      await deps.prisma.syncRun.update({ where: { id: runId }, data: { pageSize } });
    }
    pagesDone += 1;
    // Each page after the first repeats the previous page's last account (the overlap).
    accountsDone += fetched.index === 0 ? fetched.count : Math.max(0, fetched.count - 1);
    totalCount ??= fetched.totalCount;
    deps.onProgress?.({ runId, pagesDone, accountsDone, totalCount });
  };

  const validateAndWrite = async (
    fetched: FetchedPage,
    page: Omit<PageWrite, 'accounts' | 'rejected' | 'listedIds' | 'observedAt'>,
    fingerprint: PageWrite['fingerprint'],
  ) => {
    const checked = checkPage(fetched.page.data, redact);
    for (const record of checked.rejected) {
      logger.warn({ offset: fetched.offset, accountId: record.accountId, reason: record.reason }, 'account rejected');
    }
    if (mode === 'incremental' && watermark === null && checked.accounts[0]) {
      watermark = checked.accounts[0].updatedAt;
      await setWatermark(deps.prisma, runId, watermark);
    }
    await writePage(deps.prisma, { ...page, ...checked, observedAt: now(), fingerprint, redact });
  };

  let failure: unknown;
  try {
    if (mode === 'full') {
      // Taken before the walk: whatever changes while it runs is newer, and the next
      // incremental run goes back to here.
      if (watermark === null) {
        watermark = await newestUpdate(deps.client, deps.signal);
        if (watermark !== null) await setWatermark(deps.prisma, runId, watermark);
      }
      const walked = await walkPages(
        deps.client,
        { limit: pageSize, concurrency: options.concurrency, maxPages, signal: deps.signal, done },
        handle,
      );
      pageSize = walked.limit;
    } else {
      const sinceMicros = since === null ? undefined : toMicros(since);
      if (sinceMicros === undefined) throw new Error(`incremental run ${runId} has no usable watermark`);
      // An interrupted incremental run starts its walk again: it is short, and offsets in a
      // newest-first list move with every change.
      const walked = await walkNewestFirst(
        deps.client,
        { limit: pageSize, maxPages, sinceMicros, signal: deps.signal, firstIndex: nextIndex(done) },
        handle,
      );
      pageSize = walked.limit;
    }
  } catch (error) {
    failure = error;
  }

  const finishedAt = now();
  // A run that ran out of patience with a throttling server is not wrong, only early: like a
  // stopped one it keeps its pages, and the next attempt resumes it.
  const throttled = failure !== undefined && errorCodeOf(failure) === 'UPVEST_RATE_LIMITED';
  const status =
    failure === undefined ? 'succeeded' : deps.signal?.aborted || throttled ? 'interrupted' : 'failed';
  const error =
    failure === undefined
      ? undefined
      : deps.signal?.aborted
        ? { code: 'SYNC_INTERRUPTED', message: `interrupted: ${oneLineMessage(deps.signal.reason)}` }
        : { code: errorCodeOf(failure), message: redact(redactText(oneLineMessage(failure))) };
  const closed = await closeRun(deps.prisma, {
    runId,
    mode,
    status,
    pageSize,
    finishedAt,
    walkFinished: failure === undefined,
    error,
  });
  await refreshStatistics(deps.prisma, closed.totals, logger);
  const summary: RunSummary = {
    runId,
    status,
    mode,
    startedAt,
    finishedAt,
    durationMs: finishedAt.getTime() - startedAt.getTime(),
    totalCount: closed.totalCount,
    ...closed.totals,
    walkComplete: closed.assessment.complete,
    walkConsistent: closed.assessment.consistent,
    inconsistencies: closed.assessment.reasons,
    errorCode: error?.code ?? null,
    error: error?.message ?? null,
  };
  logger[summary.status === 'succeeded' ? 'info' : 'error'](
    { ...summary, runId: String(runId) },
    `sync run ${summary.status}`,
  );
  return summary;
}

/**
 * A digest of a page's records as served. With the usual layout (meta first), the raw bytes
 * from "data": on, which hold the whole data array and nothing of meta's total_count (that
 * changes with every account added anywhere); otherwise the records serialised again. Either
 * way equal digests mean equal records.
 */
export function recordsDigest(page: { body: string; data: unknown[] }): string {
  const hash = createHash('sha256');
  const meta = page.body.indexOf('"meta"');
  const data = page.body.indexOf('"data"');
  if (meta >= 0 && data > meta) hash.update(page.body.slice(data));
  else hash.update(JSON.stringify(page.data));
  return hash.digest('base64');
}

/**
 * After a run that changed a good part of the mirror (a first sync above all), the planner's
 * statistics describe tables that no longer exist: refresh them rather than wait for
 * autovacuum (which may be slow to come, or off), so analysts' queries and the next run plan
 * well. ANALYZE reads a sample and writes no row of the mirror.
 */
async function refreshStatistics(prisma: PrismaClient, totals: RunTotals, logger: Logger): Promise<void> {
  const written = totals.inserted + totals.updated + totals.deletions;
  if (written < 10_000 && written < totals.accountsSeen / 10) return;
  try {
    await prisma.$executeRawUnsafe('ANALYZE accounts, users, account_users, account_status_changes');
  } catch (error) {
    logger.warn({ err: error }, 'could not refresh the planner statistics of the mirror');
  }
}

/** The ids of the page's records, or null when one of them has no usable id. */
function usableIds(records: ReadonlyArray<unknown>): string[] | null {
  const ids: string[] = [];
  for (const record of records) {
    const id = record !== null && typeof record === 'object' ? (record as { id?: unknown }).id : undefined;
    if (!isUuid(id)) return null;
    ids.push(id.toLowerCase());
  }
  return ids;
}

function nextIndex(done: ReadonlyArray<PageMeta>): number {
  return done.reduce((next, page) => Math.max(next, page.index + 1), 0);
}
