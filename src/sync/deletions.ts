// What a run settles about deletions. A complete walk whose pages prove it listed every account
// (resumed or not, healed or not: see src/runs/coverage.ts) lists every account Upvest has:
// what it did not list is gone. A walk that kept aside records without a usable id cannot name
// them; then each live account it did not list is looked up (GET /accounts/{id}): there, it is
// written; answered 404, it is marked deleted, but only when the answer can be trusted: the
// route found an account this run listed (so it is routed, and answers for real accounts), and
// the 404 is Upvest's own problem+json. A gateway or proxy that does not route the lookup, or
// answers 404 in its own words, marks nothing deleted: deletions are left to the next full run,
// and the run says why. Past `maxChecks` accounts to look up, likewise.
import type { PrismaClient } from '../db/prisma.js';
import { oneLineMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { WalkAssessment } from '../runs/assessment.js';
import type { DeletionDecision } from '../runs/lifecycle.js';
import { unlistedLiveAccounts } from '../mirror/deletion-marks.js';
import type { AccountLookup, UpvestClient } from '../upvest/client.js';
import { usableIdOf } from '../upvest/schema.js';

export interface DeletionContext {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  signal?: AbortSignal;
}

export async function decideDeletions(
  deps: DeletionContext,
  run: { runId: bigint; mode: 'full' | 'incremental' },
  walk: { assessment: WalkAssessment; consistentWalk: boolean; pages: ReadonlyArray<{ lastId: string | null; firstId: string | null }> },
  options: { maxChecks: number },
  /** Writes accounts found still listed, as a page of the run (so they count as listed). */
  writeFound: (records: unknown[]) => Promise<void>,
): Promise<DeletionDecision> {
  if (run.mode === 'incremental') return { kind: 'none', note: 'incremental runs do not look for deletions' };
  if (!walk.assessment.complete) return { kind: 'none', note: 'the walk did not reach the end of the list' };
  if (walk.assessment.consistent) return { kind: 'unlisted' };

  const why = walk.consistentWalk ? 'records without a usable id were kept aside' : 'the walk was not proven complete';
  const candidates = await unlistedLiveAccounts(deps.prisma, run.runId, options.maxChecks + 1);
  if (candidates.length > options.maxChecks) {
    return {
      kind: 'none',
      note: `${why}, and more than SYNC_MAX_DELETION_CHECKS (${options.maxChecks}) accounts it did not list would have to be looked up one by one; left to the next full run`,
    };
  }
  if (candidates.length === 0) return { kind: 'ids', ids: [] };
  const untrusted = await routeProblem(deps, listedId(walk.pages));
  if (untrusted) return { kind: 'none', note: `${why}; ${untrusted}: no account is marked deleted by lookup, left to the next full run` };

  const gone: string[] = [];
  const found: unknown[] = [];
  let lie: string | null = null;
  for (const id of candidates) {
    let lookup: AccountLookup;
    try {
      lookup = await deps.client.getAccount(id, deps.signal);
    } catch (error) {
      // A stopped run stops; a lookup that failed after its retries settles nothing by lookup.
      if (deps.signal?.aborted) throw error;
      lie = `GET /accounts/${id} failed (${oneLineMessage(error)})`;
      break;
    }
    lie = lookupLie(id, lookup);
    if (lie) break;
    if (lookup.found) found.push(lookup.record);
    else gone.push(id);
  }
  if (found.length > 0) await writeFound(found);
  if (lie) return { kind: 'none', note: `${why}; ${lie}: no account is marked deleted by lookup, left to the next full run` };
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

/** An account the run listed, to show the lookup route answers for real accounts. */
function listedId(pages: ReadonlyArray<{ lastId: string | null; firstId: string | null }>): string | null {
  for (let i = pages.length - 1; i >= 0; i -= 1) {
    const id = pages[i]!.lastId ?? pages[i]!.firstId;
    if (id) return id;
  }
  return null;
}

/** Why the lookup route cannot be trusted with a 404, or null when it found a listed account. */
async function routeProblem(deps: DeletionContext, probe: string | null): Promise<string | null> {
  if (probe === null) return 'no account the run listed could show the lookup route works';
  let lookup: AccountLookup;
  try {
    lookup = await deps.client.getAccount(probe, deps.signal);
  } catch (error) {
    return `GET /accounts/${probe}, an account the run listed, failed (${oneLineMessage(error)})`;
  }
  if (!lookup.found) return `GET /accounts/${probe}, an account the run listed, answered 404`;
  const served = usableIdOf(lookup.record);
  return served === probe.toLowerCase() ? null : `GET /accounts/${probe}, an account the run listed, answered with ${served === null ? 'a record without a usable id' : `account ${served}`}`;
}

/**
 * Why this answer shows the route cannot be trusted, or null. A record without a usable id is
 * an answer (kept aside like the list's); another account's record, or a 404 that is not
 * Upvest's, is not.
 */
function lookupLie(id: string, lookup: AccountLookup): string | null {
  if (lookup.found) {
    const served = usableIdOf(lookup.record);
    return served === null || served === id.toLowerCase() ? null : `GET /accounts/${id} answered with account ${served}`;
  }
  return lookup.upvestProblem ? null : `GET /accounts/${id} answered 404 without Upvest's problem+json (a gateway or proxy without the route?)`;
}
