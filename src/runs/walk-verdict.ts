// The verdict on a run's walk, read from the pages it committed: whether it listed every account
// it had to, and what it may settle about deletions. Reads only.
import type { Db } from '../db/prisma.js';
import { storedMicros, walkCoverage, type PageMeta, type WalkAssessment } from './assessment.js';
import { committedPages, coveragePages, pageCount, pageSums, type PageSums } from './sql/pages.js';
import { unlistedLiveCount } from '../mirror/deletion-marks.js';
import type { RunMode, RunStatus } from './sql/runs.js';

export interface RunWalk {
  assessment: WalkAssessment;
  /** Whether the walk was consistent apart from records without a usable id. */
  consistentWalk: boolean;
  pages: PageMeta[];
  pageCount: number;
  sums: PageSums;
  /** Of a full run: the live accounts its pages do not list (those first seen before it began). */
  unlisted: number;
}

/**
 * The walk's verdict from the run's committed pages (those of every attempt, heal windows
 * included): whether their keys leave any account listed throughout the walk unproven (see
 * coverage.ts), and whether records without a usable id keep it from naming what it listed.
 */
export async function assessRunWalk(
  db: Db,
  run: { runId: bigint; mode: RunMode; walkFinished: boolean; since: string | null; lagMs: number },
): Promise<RunWalk> {
  const pages = await committedPages(db, run.runId);
  // Both read a million ids at 1,000,000 accounts: side by side, on two connections when the
  // caller is not in a transaction.
  const [sums, unlisted, stored] = await Promise.all([
    pageSums(db, run.runId),
    run.mode === 'full' ? unlistedLiveCount(db, run.runId) : 0,
    coveragePages(db, run.runId, 0),
  ]);
  const assessment = walkCoverage(stored, run.mode, newerThan(run.since, run.lagMs));
  const consistentWalk = assessment.consistent;
  if (sums.unidentified > 0) {
    // Such a record may be an account Upvest still lists: the run cannot tell which.
    assessment.consistent = false;
    assessment.reasons.push(
      `${sums.unidentified} record(s) without a usable id were kept aside, so which accounts are listed cannot be proven`,
    );
  }
  return { assessment, consistentWalk, pages, pageCount: await pageCount(db, run.runId), sums, unlisted };
}

/**
 * What an incremental walk must prove it listed: every account updated after the watermark its
 * `since` reached back from (the lag it reaches back further is a margin, fetched but not owed).
 */
function newerThan(since: string | null, lagMs: number): bigint | null {
  const micros = since === null ? null : storedMicros(since);
  return micros === null ? null : micros + BigInt(lagMs) * 1000n;
}

/** Only a complete, consistent walk of the whole list, run to its end, knows what is no longer listed. */
export function mayMarkDeletions(close: { status: RunStatus; mode: RunMode }, assessment: WalkAssessment): boolean {
  return close.status === 'succeeded' && close.mode === 'full' && assessment.complete && assessment.consistent;
}
