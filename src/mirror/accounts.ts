// Accounts as a sync page or a webhook brings them: upserted with their users and links, then
// their history recorded (status changes, owners). What both writers share, whatever the
// transaction around it (a page's with its bookkeeping, a webhook event's with its marking).
import type { Db } from '../db/prisma.js';
import { sqlStateOf } from '../db/transactions.js';
import type { AccountRecord } from '../upvest/schema.js';
import { recordOwnerChanges, type OwnerChange } from './change-log.js';
import { recordStatusChanges, syncLinks, upsertAccounts, type WriteContext, type WrittenRow } from './mirror-writes.js';

export type { WriteContext, WrittenRow };

export interface AccountsWritten {
  /** Accounts inserted, and those whose row or links changed. */
  inserted: Set<string>;
  updated: Set<string>;
  /** Status changes made, as the upsert's snapshot saw them (for the counts). */
  changes: WrittenRow[];
  /** Every row written: recordStatusChanges takes these, before the transaction commits. */
  written: WrittenRow[];
  /** Accounts whose row or links changed. */
  changedIds: Set<string>;
  /** Owners changed: recordChanges takes these, before the transaction commits. */
  ownerChanges: OwnerChange[];
}

/**
 * The history of what was written: status changes, then owners' (the accounts' own columns are
 * recorded by the database at commit). Last in a transaction: from the first id drawn to
 * commit, writers take turns (see FEED_LOCK_KEY).
 */
export async function recordChanges(db: Db, at: WriteContext, written: AccountsWritten): Promise<number> {
  const statusChanges = await recordStatusChanges(db, at, written.written);
  await recordOwnerChanges(db, at, written.ownerChanges);
  return statusChanges;
}

/**
 * The accounts (one version each, sorted by id), their users and links; the status changes
 * they make are returned, not yet recorded. Also what the webhook applier writes with.
 */
export async function writeAccounts(db: Db, at: WriteContext, accounts: AccountRecord[]): Promise<AccountsWritten> {
  if (accounts.length === 0) return { ...NOTHING_WRITTEN, inserted: new Set(), updated: new Set(), changedIds: new Set() };
  // Creates the new accounts' links too; the others' are compared with what is stored.
  const written = await upsertAccounts(db, at, accounts);
  const inserted = new Set(written.filter((row) => row.inserted).map((row) => row.id));
  const known = accounts.filter((a) => !inserted.has(a.id));
  const newVersions = new Set(written.filter((row) => row.newVersion).map((row) => row.id));
  const ownerChanges = known.length === 0 ? [] : await syncLinks(db, at, known, newVersions);
  const updated = new Set([...ownerChanges.map((c) => c.accountId), ...written.filter((row) => !row.inserted).map((row) => row.id)]);
  return {
    inserted,
    updated,
    changes: written.filter((row) => row.from_status !== row.to_status),
    written,
    changedIds: new Set([...inserted, ...updated]),
    ownerChanges,
  };
}

function mergeWritten(a: AccountsWritten, b: AccountsWritten): AccountsWritten {
  return {
    inserted: new Set([...a.inserted, ...b.inserted]),
    updated: new Set([...a.updated, ...b.updated]),
    changes: [...a.changes, ...b.changes],
    written: [...a.written, ...b.written],
    changedIds: new Set([...a.changedIds, ...b.changedIds]),
    ownerChanges: [...a.ownerChanges, ...b.ownerChanges],
  };
}

const NOTHING_WRITTEN: AccountsWritten = { inserted: new Set(), updated: new Set(), changes: [], written: [], changedIds: new Set(), ownerChanges: [] };

/**
 * Writes the accounts in halves under savepoints until every account PostgreSQL refuses is
 * alone and handed to `refuse`: k bad records among n cost about k * log2(n) attempts. The
 * history is recorded here too, inside each savepoint.
 */
export async function writeIsolating(
  db: Db,
  at: WriteContext,
  accounts: AccountRecord[],
  refuse: (account: AccountRecord, error: unknown) => void,
): Promise<AccountsWritten> {
  if (accounts.length === 0) return NOTHING_WRITTEN;
  await db.$executeRawUnsafe('SAVEPOINT page_part');
  try {
    // The status changes inside the savepoint too: this path values robustness over holding
    // the feed lock for the shortest time. They are recorded here, not by the caller.
    const written = await writeAccounts(db, at, accounts);
    await recordChanges(db, at, written);
    await db.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    return written;
  } catch (error) {
    if (!isDataError(error)) throw error;
    await db.$executeRawUnsafe('ROLLBACK TO SAVEPOINT page_part');
    await db.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    if (accounts.length === 1) {
      refuse(accounts[0]!, error);
      return NOTHING_WRITTEN;
    }
    const middle = Math.ceil(accounts.length / 2);
    const first = await writeIsolating(db, at, accounts.slice(0, middle), refuse);
    return mergeWritten(first, await writeIsolating(db, at, accounts.slice(middle), refuse));
  }
}

/** SQLSTATE classes of a statement refused for the data it carried. */
export function isDataError(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && ['22', '23', '54'].includes(state.slice(0, 2));
}

/** By id: the order every writer takes its row locks in. */
export const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
