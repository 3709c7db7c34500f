// Is every status change recorded exactly once, in order? Per account, account_status_changes
// (by id) must be a faithful, duplicate-free trace of upstream, and must show every status the
// observation model says was visible:
//
// - a chain: the first change comes from NULL (first sight), each next one from the status the
//   previous one went to, never to the status it came from;
// - in order, each once: changed_at strictly increases with id;
// - genuine: each change's (changed_at, to_status) is a version upstream really had (changed_at
//   is the updated_at of the first version in which the sync saw the new status);
// - complete: for each version the model says must be visible, the recorded status as of that
//   version's updated_at is that version's status.
//
// With the sync alone, a status is visible only when a run reads it: the model is "every
// version that the final attempt of a successful run read" (its newest read of each account;
// a successful run commits every page of its final attempt, see reads.ts). So the expected
// history of an account is the sequence of distinct statuses among those versions, by
// updated_at; the recorded one may hold more (pages committed by runs that failed later are
// genuine sightings too), never less, never anything upstream did not have. A status that
// came and went between two runs is not expected.
//
// With webhooks (`--webhooks`) every change upstream makes is sent, so every version must show
// (everyUpstreamVersion), save one the mirror had legitimately moved past before its event was
// applied: docs/webhooks.md, "How events are applied", promises that older never overwrites newer, and an
// event whose version is older than the mirror's is marked `duplicate` and records nothing. So
// a status the account held only in a version overtaken that way (a sync or a later event wrote
// a newer version first: deliveries reordered, a receiver down while syncs ran) cannot show.
// Which versions were overtaken is judged from evidence outside the product (webhook-check.ts),
// not from its word alone.
import type { Client } from 'pg';
import type { Seen } from './reads.js';
import type { Upstream } from './upstream.js';

export interface ObservationModel {
  readonly name: string;
  /** The versions of the account whose status the history must show. */
  mustSee(id: string): ReadonlyArray<{ updatedAt: string; status: string }>;
}

export function seenBySuccessfulRuns(mustSee: Map<string, Map<string, Seen>>): ObservationModel {
  return { name: 'sync only: versions read by successful runs', mustSee: (id) => [...(mustSee.get(id)?.values() ?? [])] };
}

/** The webhooks mode's model: every status change upstream made is delivered, so all must show. */
export function everyUpstreamVersion(upstream: Upstream): ObservationModel {
  return { name: 'every upstream version', mustSee: (id) => upstream.history(id) };
}

/** everyUpstreamVersion(), but for the versions `overtaken` says the mirror had moved past (see above). */
export function everyUpstreamVersionUnlessOvertaken(
  upstream: Upstream,
  overtaken: (id: string, version: { updatedAt: string }) => boolean,
): ObservationModel {
  const every = everyUpstreamVersion(upstream);
  return { name: `${every.name}, unless overtaken`, mustSee: (id) => every.mustSee(id).filter((v) => !overtaken(id, v)) };
}

interface Change {
  account_id: string;
  from_status: string | null;
  to_status: string;
  changed_at: string;
}

export interface HistoryFindings {
  accounts: number;
  changes: number;
  mustSee: number;
  mismatches: string[];
}

export async function checkHistory(db: Client, upstream: Upstream, model: ObservationModel): Promise<HistoryFindings> {
  const { rows } = await db.query<Change>(`
    SELECT account_id::text, from_status, to_status,
           to_char(changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS changed_at
    FROM account_status_changes ORDER BY id`);
  const byAccount = new Map<string, Change[]>();
  for (const row of rows) byAccount.set(row.account_id, [...(byAccount.get(row.account_id) ?? []), row]);
  const found: string[] = [];
  let mustSeeCount = 0;
  const ids = new Set([...upstream.ids(), ...byAccount.keys()]);
  for (const id of ids) {
    const changes = byAccount.get(id) ?? [];
    const say = (what: string) => found.push(`account ${id}: ${what}; recorded ${trace(changes)}`);
    changes.forEach((change, i) => {
      const previous = changes[i - 1];
      if ((previous?.to_status ?? null) !== change.from_status) say(`change ${i + 1} comes from ${change.from_status}, not from ${previous?.to_status ?? 'NULL'}`);
      if (previous && change.to_status === change.from_status) say(`change ${i + 1} goes nowhere (${change.to_status})`);
      if (previous && change.changed_at <= previous.changed_at) say(`change ${i + 1} is not later than the one before`);
      const version = upstream.byUpdatedAt(id, change.changed_at);
      if (!version) say(`change ${i + 1} at ${change.changed_at} matches no version upstream had`);
      else if (version.status !== change.to_status) say(`change ${i + 1} to ${change.to_status}, but upstream's version of ${change.changed_at} is ${version.status}`);
    });
    const expected = [...model.mustSee(id)].sort((a, b) => (a.updatedAt < b.updatedAt ? -1 : 1));
    mustSeeCount += expected.length;
    for (const version of expected) {
      const asOf = changes.filter((c) => c.changed_at <= version.updatedAt).at(-1)?.to_status;
      if (asOf !== version.status) {
        say(`${version.status} at ${version.updatedAt} must show, the history has ${asOf ?? 'nothing'} then; expected at least ${trace(expected.map((v) => ({ to_status: v.status })))}`);
        break;
      }
    }
  }
  return { accounts: ids.size, changes: rows.length, mustSee: mustSeeCount, mismatches: found };
}

/** Distinct consecutive statuses, e.g. "PENDING_APPROVAL > ACTIVE > LOCKED". */
function trace(changes: ReadonlyArray<{ to_status: string }>): string {
  const statuses: string[] = [];
  for (const c of changes) if (statuses.at(-1) !== c.to_status) statuses.push(c.to_status);
  return statuses.length === 0 ? '(nothing)' : statuses.join(' > ');
}
