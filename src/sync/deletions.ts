// What a run settles about deletions. A complete, consistent walk of the whole list (resumed or
// not: a removal behind the cursor shifts the later pages, which the overlaps catch) lists
// every account Upvest has: what it did not list is gone. A walk that kept aside records
// without a usable id cannot name them; then each live account it did not list is looked up
// (GET /accounts/{id}): gone, it is marked deleted; there, it is written. That settles
// deletions too. A walk whose items shifted or whose total changed can have listed an account
// that was removed after its page was read: the accounts it did not list are looked up and
// those gone marked, but the rest is left to the next full run, and the run says so. Past
// `maxChecks` accounts to look up, deletions are left to the next full run altogether.
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { WalkAssessment } from '../runs/assessment.js';
import type { DeletionDecision } from '../runs/lifecycle.js';
import { unlistedLiveAccounts } from '../runs/sql/pages.js';
import type { UpvestClient } from '../upvest/client.js';

export interface DeletionContext {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  signal?: AbortSignal;
}

export async function decideDeletions(
  deps: DeletionContext,
  run: { runId: bigint; mode: 'full' | 'incremental' },
  walk: { assessment: WalkAssessment; consistentWalk: boolean },
  options: { maxChecks: number },
  /** Writes accounts found still listed, as a page of the run (so they count as listed). */
  writeFound: (records: unknown[]) => Promise<void>,
): Promise<DeletionDecision> {
  if (run.mode === 'incremental') return { kind: 'none', note: 'incremental runs do not look for deletions' };
  if (!walk.assessment.complete) return { kind: 'none', note: 'the walk did not reach the end of the list' };
  if (walk.assessment.consistent) return { kind: 'unlisted' };

  const why = walk.consistentWalk ? 'records without a usable id were kept aside' : 'the walk was not consistent';
  const candidates = await unlistedLiveAccounts(deps.prisma, run.runId, options.maxChecks + 1);
  if (candidates.length > options.maxChecks) {
    return {
      kind: 'none',
      note: `${why}, and more than SYNC_MAX_DELETION_CHECKS (${options.maxChecks}) accounts it did not list would have to be looked up one by one; left to the next full run`,
    };
  }
  const gone: string[] = [];
  const found: unknown[] = [];
  for (const id of candidates) {
    const lookup = await deps.client.getAccount(id, deps.signal);
    if (lookup.found) found.push(lookup.record);
    else gone.push(id);
  }
  if (found.length > 0) await writeFound(found);
  deps.logger.info(
    { looked: candidates.length, gone: gone.length, found: found.length },
    `${why}: looked up the ${candidates.length} live account(s) it did not list one by one`,
  );
  if (walk.consistentWalk) return { kind: 'ids', ids: gone };
  return {
    kind: 'ids',
    ids: gone,
    incomplete: `${why}: accounts removed after their page was read may still be live here; left to the next full run`,
  };
}
