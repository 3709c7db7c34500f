// What Upvest (the simulator) held, and when: every version of every account, and when each was
// listed, in the soak's clock. The checks ask it "what was there at time t", so they need not
// pause the changes to compare.
import type { Dataset, SimAccount } from '../src/simulator/index.js';

/** A timestamp as PostgreSQL prints it with to_char(... 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'). */
export function canonicalTime(value: string): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/.exec(value);
  if (!match) throw new Error(`not a UTC timestamp with at most microseconds: ${value}`);
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(6, '0')}Z`;
}

/** An account as it was between two changes, in the form the mirror check compares. */
export interface Version {
  id: string;
  /** canonicalTime(updated_at): unique per account, increasing. */
  updatedAt: string;
  status: string;
  /** Every field the mirror keeps, users sorted, as one comparable text. */
  fields: string;
  /** When it became current (soak clock, ms); -Infinity for the initial dataset. */
  at: number;
}

export function versionOf(account: SimAccount, at: number): Version {
  const users = [...account.users].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((u) => `${u.id}:${u.type}`);
  return {
    id: account.id,
    updatedAt: canonicalTime(account.updated_at),
    status: account.status,
    fields: mirrorFields({
      account_group_id: account.account_group_id,
      type: account.type,
      name: account.name,
      status: account.status,
      account_number: String(account.account_number),
      created_at: canonicalTime(account.created_at),
      updated_at: canonicalTime(account.updated_at),
      users,
    }),
    at,
  };
}

/** An account's columns as text, timestamps in canonicalTime form, users as sorted "id:type". */
export interface MirrorColumns {
  account_group_id: string;
  type: string;
  name: string;
  status: string;
  account_number: string;
  created_at: string;
  updated_at: string;
  users: string[];
}

export function mirrorFields(row: MirrorColumns): string {
  return JSON.stringify([row.account_group_id, row.type, row.name, row.status, row.account_number, row.created_at, row.updated_at, row.users]);
}

interface Listing {
  at: number;
  live: boolean;
}

export class Upstream {
  private readonly versions = new Map<string, Version[]>();
  private readonly listings = new Map<string, Listing[]>();
  readonly counts = { statusChanges: 0, renames: 0, userChanges: 0, added: 0, removed: 0, restored: 0 };

  constructor(dataset: Dataset, private readonly clock: () => number = Date.now) {
    for (const account of dataset.list()) {
      this.versions.set(account.id, [versionOf(account, -Infinity)]);
      this.listings.set(account.id, [{ at: -Infinity, live: true }]);
    }
    dataset.onChange((change) => {
      const at = this.clock();
      const id = change.account.id;
      if (change.kind === 'removed' || change.kind === 'restored') {
        this.listings.get(id)!.push({ at, live: change.kind === 'restored' });
        this.counts[change.kind] += 1;
        return;
      }
      const list = this.versions.get(id) ?? [];
      list.push(versionOf(change.account, at));
      this.versions.set(id, list);
      if (change.kind === 'added') {
        this.listings.set(id, [{ at, live: true }]);
        this.counts.added += 1;
      } else if (change.kind === 'status') this.counts.statusChanges += 1;
      else if (change.kind === 'rename') this.counts.renames += 1;
      else this.counts.userChanges += 1;
    });
  }

  ids(): IterableIterator<string> {
    return this.versions.keys();
  }

  /** Every version of the account, oldest first. */
  history(id: string): readonly Version[] {
    return this.versions.get(id) ?? [];
  }

  /** The version current at `t`: changes at `t` itself count only when `inclusive`. */
  versionAt(id: string, t: number, inclusive: boolean): Version | undefined {
    let found: Version | undefined;
    for (const version of this.history(id)) {
      if (version.at < t || (inclusive && version.at === t)) found = version;
      else break;
    }
    return found;
  }

  byUpdatedAt(id: string, updatedAt: string): Version | undefined {
    return this.history(id).find((v) => v.updatedAt === updatedAt);
  }

  /** Listed during the whole of [from, to]: listed just before `from` and never removed until `to`. */
  listedThroughout(id: string, from: number, to: number): boolean {
    return this.listingState(id, from, to) === 'listed';
  }

  /** Not listed (removed, or not yet added) during the whole of [from, to]. */
  absentThroughout(id: string, from: number, to: number): boolean {
    return this.listingState(id, from, to) === 'absent';
  }

  private listingState(id: string, from: number, to: number): 'listed' | 'absent' | 'mixed' {
    const listings = this.listings.get(id) ?? [];
    let before = false;
    for (const listing of listings) if (listing.at < from) before = listing.live;
    const during = listings.filter((l) => l.at >= from && l.at <= to);
    if (during.some((l) => l.live !== before)) return 'mixed';
    return before ? 'listed' : 'absent';
  }

  /** Listed at some moment within [from, to]. */
  listedSometime(id: string, from: number, to: number): boolean {
    return this.listingState(id, from, to) !== 'absent';
  }
}
