// A first sync's fast path. Accounts the mirror does not hold yet are loaded with COPY, which
// costs PostgreSQL less per row than INSERT ... SELECT: it inserts rows in batches and parses no
// JSON, and there is nothing to compare with. Same transaction, rows, bookkeeping and lock order
// as writePages. Prisma cannot COPY, so this runs on the node-postgres pool under Prisma's
// adapter (see pgPoolOf).
//
// It only ever inserts. Should an account be stored already (a page repeated it, a webhook wrote
// it), or PostgreSQL refuse a record, the transaction rolls back and the batch goes to
// writePages, which handles all of that: nothing is decided here that writePages would decide
// differently.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { FEED_CHANNEL } from '../db/feed.js';
import { pgStatements, type Db, type RawStatements } from '../db/prisma.js';
import { sqlStateOf, withTransactionRetry } from '../db/transactions.js';
import type { AccountRecord } from '../upvest/schema.js';
import { byId, type AccountsWritten } from './accounts.js';
import { ACCOUNT_COLUMNS } from './columns.js';
import type { WrittenRow } from './mirror-writes.js';
import { toMicros } from './timestamps.js';

export type BulkLoadResult<T> = { loaded: true; outcomes: T } | { loaded: false; sqlState: string };

/** A batch for COPY, and what its writer adds to the same transaction. */
export interface BulkLoad<T> {
  runId: bigint;
  observedAt: Date;
  /** One version each, sorted by id (the lock order). */
  accounts: AccountRecord[];
  /** A call without parameters that takes the writer's own lock first (see pageWritesLockCall). */
  lockCall: string;
  /** The writer's own rows (a page's bookkeeping), after the accounts and links, before their history. */
  bookkeeping: (db: RawStatements, written: AccountsWritten) => Promise<T>;
  usersApart?: boolean;
}

/**
 * Whether every account stored was written by this run: a first sync, or one resumed. Only then
 * are the run's accounts likely new, and COPY worth trying.
 */
export async function mirrorWrittenOnlyBy(db: Db, runId: bigint): Promise<boolean> {
  const [row] = await db.$queryRaw<Array<{ only: boolean }>>`
    SELECT NOT EXISTS (SELECT 1 FROM accounts WHERE last_sync_run_id IS DISTINCT FROM ${runId}::bigint) AS only`;
  return row?.only === true;
}

/**
 * Writes the batch in one transaction by COPY when none of its accounts is stored; otherwise
 * writes nothing and says why (the SQLSTATE), and the caller writes it with writePages.
 *
 * `usersApart` (the foreign keys are dropped, see deferred-keys.ts): the batch's users are
 * written after it commits, in a statement of their own, instead of inside the transaction.
 * Inside, a writer inserting a user another writer has inserted but not committed waits for
 * that commit, and with owners shared between pages that was most batches; apart, it waits at
 * most for the other's single statement. A batch that fails leaves no user behind; a process
 * killed between the commit and the users leaves links without their users, which restoring
 * the keys finds and settles.
 */
export async function bulkLoad<T>(pool: Pool, batch: BulkLoad<T>): Promise<BulkLoadResult<T>> {
  const observedAt = batch.observedAt.toISOString();
  const client = await pool.connect();
  let broken = false;
  try {
    const result = await loadInOneTransaction(client, batch, observedAt, () => (broken = true));
    // Past the commit: a failure here fails the run (the batch is stored), and restoring the
    // foreign keys writes the users its links name.
    if (result.loaded && batch.usersApart === true) await withTransactionRetry(() => insertUsers(client, batch.accounts, observedAt));
    return result;
  } finally {
    client.release(broken);
  }
}

/** The batch by COPY in one transaction, or nothing and why (see WRITE_PAGES_INSTEAD). */
async function loadInOneTransaction<T>(client: PoolClient, batch: BulkLoad<T>, observedAt: string, broken: () => void): Promise<BulkLoadResult<T>> {
  try {
    // Statements without parameters go in one round trip with the next: every round trip
    // waits for this process's event loop, busy with the pages it parses meanwhile.
    await client.query(`BEGIN; SELECT ${batch.lockCall}`);
    const { outcomes, changes } = await load(client, batch, observedAt);
    await client.query(changes === 0 ? 'COMMIT' : `SELECT ${feedNotification(batch.runId, changes)}; COMMIT`);
    return { loaded: true, outcomes };
  } catch (error) {
    await client.query('ROLLBACK').catch(broken);
    const sqlState = sqlStateOf(error);
    if (sqlState !== undefined && WRITE_PAGES_INSTEAD.has(sqlState.slice(0, 2))) return { loaded: false, sqlState };
    throw error;
  }
}

/**
 * SQLSTATE classes after which writePages takes the batch: data and integrity (an account
 * already stored, a record refused), limits, and deadlocks, which writePages retries.
 */
const WRITE_PAGES_INSTEAD = new Set(['22', '23', '40', '54']);

/** The change feed's notification of the `count` changes just recorded (see recordStatusChanges). */
function feedNotification(runId: bigint, count: number): string {
  return `pg_notify('${FEED_CHANNEL}', json_build_object('source', 'sync', 'sync_run_id', '${runId}',
    'max_id', currval(pg_get_serial_sequence('account_status_changes', 'id'))::text, 'count', ${count})::text)`;
}

async function load<T>(client: PoolClient, batch: BulkLoad<T>, observedAt: string): Promise<{ outcomes: T; changes: number }> {
  const { accounts, usersApart } = batch;
  const run = String(batch.runId);
  // Locks in writePages' order: accounts, then users and links, each sorted, then the feed lock.
  if (accounts.length > 0) {
    await copy(client, `accounts (${COPY_ACCOUNT_COLUMNS})`, accountRows(accounts, observedAt, run));
    if (!usersApart) await insertUsers(client, accounts, observedAt);
    if (accounts.some((a) => a.users.length > 0)) await copy(client, 'account_users (account_id, user_id, type, extra)', linkRows(accounts));
  }
  const written = writtenRows(accounts);
  const inserted = new Set(written.map((w) => w.id));
  const outcomes = await batch.bookkeeping(pgStatements(client), { inserted, updated: new Set(), changes: written, written, changedIds: inserted, ownerChanges: [] });
  if (written.length > 0) {
    // Last, as in writePages: from the first id drawn to commit, writers take turns. The table's
    // statement trigger takes the feed lock (see FEED_LOCK_KEY) before COPY draws the first id.
    await copy(client, 'account_status_changes (account_id, to_status, changed_at, observed_at, sync_run_id)', statusRows(written, observedAt, run));
  }
  return { outcomes, changes: written.length };
}

/**
 * The accounts' users not stored yet, in id order: two writers inserting them so cannot
 * deadlock. A batch written as upserts (writePages) inserts its users in more than one
 * statement of its transaction, so a statement of this kind can be chosen to break a deadlock
 * with one: apart from any transaction and idempotent, it is simply run again.
 */
async function insertUsers(client: PoolClient, accounts: AccountRecord[], observedAt: string): Promise<void> {
  const userIds = [...new Set(accounts.flatMap((a) => a.users.map((u) => u.id)))].sort();
  if (userIds.length === 0) return;
  await client.query(
    `INSERT INTO users (id, first_seen_at, last_seen_at)
     SELECT id, $2::timestamptz, $2::timestamptz FROM unnest($1::uuid[]) AS u(id) ORDER BY 1
     ON CONFLICT (id) DO NOTHING`,
    [userIds, observedAt],
  );
}

async function copy(client: PoolClient, target: string, rows: string): Promise<void> {
  await pipeline(Readable.from([Buffer.from(rows, 'utf8')]), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
}

/** The record's columns (the upsert's, see ACCOUNT_COLUMNS), then what this writer stamps. */
const COPY_ACCOUNT_COLUMNS = [...ACCOUNT_COLUMNS.map((c) => c.column), 'first_seen_at', 'last_seen_at', 'last_sync_run_id'].join(', ');

function accountRows(accounts: AccountRecord[], observedAt: string, run: string): string {
  let out = '';
  for (const a of accounts) {
    for (const c of ACCOUNT_COLUMNS) {
      const value = c.of(a);
      out += `${c.json === 'escaped' ? copyText(value as string) : c.json === 'raw' ? copyJson(value as string | null) : value}\t`;
    }
    out += `${observedAt}\t${observedAt}\t${run}\n`;
  }
  return out;
}

/** Sorted by account, then user, as writePages inserts them. */
function linkRows(accounts: AccountRecord[]): string {
  let out = '';
  for (const a of accounts) {
    const users = [...a.users].sort(byId);
    for (const u of users) out += `${a.id}\t${u.id}\t${copyText(u.type)}\t${copyJson(u.extra)}\n`;
  }
  return out;
}

/** Every account is new: its change comes from no status. Sorted by when it changed, as ids must be. */
function writtenRows(accounts: AccountRecord[]): WrittenRow[] {
  return accounts
    .map((a) => ({ row: { id: a.id, from_status: null, to_status: a.status, changed_at: a.updatedAt, inserted: true }, at: toMicros(a.updatedAt)! }))
    .sort((x, y) => (x.at < y.at ? -1 : x.at > y.at ? 1 : byId(x.row, y.row)))
    .map((x) => x.row);
}

function statusRows(written: WrittenRow[], observedAt: string, run: string): string {
  let out = '';
  for (const w of written) out += `${w.id}\t${copyText(w.to_status)}\t${w.changed_at}\t${observedAt}\t${run}\n`;
  return out;
}

/** A value in COPY's text format: validation let no NUL through, and these four are escaped. */
function copyText(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(COPY_SPECIAL_ALL, (c) => COPY_ESCAPES[c]!) : value;
}
/** Unknown fields' JSON text, or \N for none. */
const copyJson = (json: string | null | undefined): string => (json == null ? '\\N' : copyText(json));
const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_SPECIAL_ALL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
