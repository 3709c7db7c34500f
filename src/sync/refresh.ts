// `account-sync refresh ID...`: the given accounts fetched now (GET /accounts/{id}) and written
// through the mirror's own writer, as a lookup: the history says source 'lookup'. An id answered
// 404 is marked deleted only when the 404 can be trusted, by the rule the runs follow (see
// deletions.ts): it is Upvest's own problem+json, and the route was shown to work, by finding
// one of the given accounts or, failing that, a live account of the mirror.
import type { PrismaClient } from '../db/prisma.js';
import { withTransactionRetry } from '../db/transactions.js';
import { oneLineMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccountLookup, UpvestClient } from '../upvest/client.js';
import { checkAccount, DEFAULT_EXTRA_LIMITS, usableIdOf, type AccountRecord, type ExtraLimits } from '../upvest/schema.js';
import { markDeletedByLookup } from '../mirror/change-log.js';
import type { WriteContext } from '../mirror/mirror-writes.js';
import { byId, recordChanges, writeAccounts } from '../mirror/accounts.js';

export type RefreshOutcomeKind =
  /** Written: new to the mirror, changed, or already as Upvest has it. */
  | 'inserted'
  | 'updated'
  | 'unchanged'
  /** Answered 404 from a route shown to work: marked deleted (or already was, or never stored). */
  | 'deleted'
  | 'not_found'
  /** Upvest's record is refused by validation: nothing written. */
  | 'rejected'
  /** Nothing could be settled: the lookup failed, or its answer cannot be trusted. */
  | 'failed';

export interface RefreshOutcome {
  id: string;
  outcome: RefreshOutcomeKind;
  detail?: string;
}

export interface RefreshDeps {
  prisma: PrismaClient;
  client: UpvestClient;
  logger: Logger;
  now: () => Date;
  extraLimits?: ExtraLimits;
  signal?: AbortSignal;
}

interface Looked {
  found: Map<string, AccountRecord>;
  gone: string[];
  outcomes: Map<string, RefreshOutcome>;
  routeShown: boolean;
}

/** Refreshes the accounts (lower-case UUIDs, each once); an outcome per id, in the order given. */
export async function refreshAccounts(deps: RefreshDeps, ids: readonly string[]): Promise<RefreshOutcome[]> {
  const looked = await lookUp(deps, ids);
  if (looked.gone.length > 0 && !looked.routeShown) {
    const problem = await routeProblem(deps, ids);
    if (problem === null) looked.routeShown = true;
    else for (const id of looked.gone) looked.outcomes.set(id, { id, outcome: 'failed', detail: `answered 404, but ${problem}: not marked deleted` });
  }
  const at: WriteContext = { observedAt: deps.now(), runId: null, source: 'lookup' };
  const accounts = [...looked.found.values()].sort(byId);
  const gone = looked.routeShown ? looked.gone : [];
  const { written, deleted } = await withTransactionRetry(() =>
    deps.prisma.$transaction(
      async (tx) => {
        const written = await writeAccounts(tx, at, accounts);
        const deleted = await markDeletedByLookup(tx, gone, at.observedAt);
        await recordChanges(tx, at, written);
        return { written, deleted };
      },
      { maxWait: 30_000, timeout: 120_000 },
    ),
  );
  for (const account of accounts) {
    const outcome = written.inserted.has(account.id) ? 'inserted' : written.updated.has(account.id) ? 'updated' : 'unchanged';
    looked.outcomes.set(account.id, { id: account.id, outcome });
  }
  for (const id of gone) looked.outcomes.set(id, { id, outcome: deleted.has(id) ? 'deleted' : 'not_found' });
  return ids.map((id) => looked.outcomes.get(id)!);
}

async function lookUp(deps: RefreshDeps, ids: readonly string[]): Promise<Looked> {
  const looked: Looked = { found: new Map(), gone: [], outcomes: new Map(), routeShown: false };
  for (const id of ids) {
    let lookup: AccountLookup;
    try {
      lookup = await deps.client.getAccount(id, deps.signal);
    } catch (error) {
      if (deps.signal?.aborted) throw error;
      looked.outcomes.set(id, { id, outcome: 'failed', detail: `GET /accounts/${id} failed: ${oneLineMessage(error)}` });
      continue;
    }
    if (!lookup.found) {
      if (lookup.upvestProblem) looked.gone.push(id);
      else looked.outcomes.set(id, { id, outcome: 'failed', detail: "answered 404 without Upvest's problem+json (a gateway or proxy without the route?)" });
      continue;
    }
    const served = usableIdOf(lookup.record);
    if (served !== id) {
      looked.outcomes.set(id, { id, outcome: 'failed', detail: `answered with ${served === null ? 'a record without a usable id' : `account ${served}`}` });
      continue;
    }
    looked.routeShown = true;
    const checked = checkAccount(lookup.record, deps.extraLimits ?? DEFAULT_EXTRA_LIMITS);
    if (checked.ok) looked.found.set(id, checked.account);
    else looked.outcomes.set(id, { id, outcome: 'rejected', detail: checked.rejected.reason });
  }
  return looked;
}

/** Why a 404 cannot be trusted, or null once a live account of the mirror was found by the route. */
async function routeProblem(deps: RefreshDeps, ids: readonly string[]): Promise<string | null> {
  const [probe] = await deps.prisma.$queryRaw<Array<{ id: string }>>`
    SELECT id::text AS id FROM accounts WHERE deleted_at IS NULL AND id <> ALL(${ids as string[]}::uuid[])
    ORDER BY last_seen_at DESC, id LIMIT 1`;
  if (!probe) return 'no account could show the route works (none of the given ones was found, and the mirror holds no other live account)';
  let lookup: AccountLookup;
  try {
    lookup = await deps.client.getAccount(probe.id, deps.signal);
  } catch (error) {
    if (deps.signal?.aborted) throw error;
    return `GET /accounts/${probe.id}, a live account of the mirror, failed (${oneLineMessage(error)})`;
  }
  if (!lookup.found) return `GET /accounts/${probe.id}, a live account of the mirror, answered 404 too`;
  const served = usableIdOf(lookup.record);
  return served === probe.id ? null : `GET /accounts/${probe.id}, a live account of the mirror, answered with ${served ?? 'a record without a usable id'}`;
}
