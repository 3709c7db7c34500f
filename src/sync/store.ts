// Writes one page of accounts in one transaction, set-based: a handful of statements whatever
// the page size, no statement per account. An unchanged account causes no row write, so
// writing the same page twice changes nothing.
import { FEED_CHANNEL, FEED_LOCK_KEY } from '../db/feed.js';
import { Prisma, type PrismaClient } from '../db/prisma.js';
import { databaseMessageOf, sqlStateOf, withTransactionRetry } from '../db/transactions.js';
import { oneLineMessage } from '../errors.js';
import type { AccountRecord } from '../upvest/schema.js';
import { jsonbString, keptAsideJson } from './kept-aside.js';

export type { AccountRecord };

/** A record kept aside in rejected_records, already in the form it is stored in. */
export interface KeptAside {
  /** Its id when it has a usable one (a UUID): it is still listed, so never marked deleted. */
  accountId: string | null;
  /** JSON text jsonb accepts (see kept-aside.ts). */
  rawJson: string;
  rawTruncated: boolean;
  reason: string;
}

export interface PageWrite {
  runId: bigint;
  pageIndex: number;
  offset: number;
  totalCount: number;
  itemCount: number;
  firstId: string | null;
  lastId: string | null;
  accounts: AccountRecord[];
  rejected: KeptAside[];
  /** Every id the page listed, rejected records with a usable id included. */
  listedIds: string[];
  /** Records kept aside without a usable id: they may be accounts the run cannot name. */
  unidentified?: number;
  retries: number;
  observedAt: Date;
  /**
   * Where the page sits in an oldest-first full walk, and a digest of its records as served:
   * a page served exactly as when it was last written needs no write (see
   * sync_page_fingerprints). Absent for other walks.
   */
  fingerprint?: { limit: number; digest: string };
  /** Applied to database messages before they are stored with a refused record. */
  redact?: (text: string) => string;
}

export interface PageOutcome {
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  rejected: number;
}

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

// A note on lookups. The planner cannot know how many rows a JSON parameter holds (it assumes
// 100), and between ANALYZEs it can think the mirror's tables far smaller than they are; then it
// joins a page against a sequential scan of the whole table, and each page costs a read of all
// accounts. Lookups of stored rows are therefore written as LATERAL subqueries with a LIMIT,
// which the planner cannot turn into joins: one index probe per row of the page, always.
export async function writePage(prisma: PrismaClient, page: PageWrite): Promise<PageOutcome> {
  // Within a page the same id can only be written once per statement; keep its newest version.
  // Sorting by id gives every transaction the same lock order, which keeps parallel page
  // writers from deadlocking on the rows two pages share.
  const accounts = newestById(page.accounts).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  try {
    return await withTransactionRetry(() =>
      prisma.$transaction(
        async (tx) => {
          const { written, changes } = await writeAccounts(tx, page, accounts);
          const outcome = await recordOutcome(tx, page, written, []);
          // Last: from here to commit, page transactions take turns (see FEED_LOCK_KEY).
          await recordStatusChanges(tx, page, changes);
          return outcome;
        },
        { maxWait: 30_000, timeout: 120_000 },
      ),
    );
  } catch (error) {
    // Validation should have kept aside whatever PostgreSQL refuses; should a record get
    // through anyway, it must not fail its page on every run: find it, keep it aside with the
    // database's own message, and store the rest.
    if (!isDataError(error)) throw error;
    return withTransactionRetry(() =>
      prisma.$transaction(
        async (tx) => {
          const refused: KeptAside[] = [];
          const written = await writeIsolating(tx, page, accounts, refused);
          return recordOutcome(tx, page, written, refused);
        },
        { maxWait: 30_000, timeout: 300_000 },
      ),
    );
  }
}

interface Written {
  accounts: number;
  inserted: number;
  updated: number;
  statusChanges: number;
}

const NOTHING_WRITTEN: Written = { accounts: 0, inserted: 0, updated: 0, statusChanges: 0 };

function addWritten(a: Written, b: Written): Written {
  return {
    accounts: a.accounts + b.accounts,
    inserted: a.inserted + b.inserted,
    updated: a.updated + b.updated,
    statusChanges: a.statusChanges + b.statusChanges,
  };
}

/** The accounts, their users and links; the status changes they make are returned, not yet recorded. */
async function writeAccounts(tx: Tx, page: PageWrite, accounts: AccountRecord[]): Promise<{ written: Written; changes: WrittenRow[] }> {
  if (accounts.length === 0) return { written: NOTHING_WRITTEN, changes: [] };
  const written = await upsertAccounts(tx, page, accountsJsonOf(accounts));
  // Accounts this transaction created cannot have links yet (a parallel page that lists
  // one too waits for this one to commit), so theirs are simply inserted; the others are
  // compared with what is stored.
  const created = new Set(written.filter((row) => row.inserted).map((row) => row.id));
  const known = accounts.filter((a) => !created.has(a.id));
  if (created.size > 0) await insertLinks(tx, page, accounts.filter((a) => created.has(a.id)));
  const relinked = known.length === 0 ? [] : await syncLinks(tx, page, known);
  const changes = written.filter((row) => row.from_status !== row.to_status);
  const updated = new Set([...relinked, ...written.filter((row) => !row.inserted).map((row) => row.id)]);
  return {
    written: { accounts: accounts.length, inserted: created.size, updated: updated.size, statusChanges: changes.length },
    changes,
  };
}

/**
 * Writes the accounts in halves under savepoints until every account PostgreSQL refuses is
 * alone and kept aside: k bad records among n cost about k * log2(n) attempts.
 */
async function writeIsolating(tx: Tx, page: PageWrite, accounts: AccountRecord[], refused: KeptAside[]): Promise<Written> {
  if (accounts.length === 0) return NOTHING_WRITTEN;
  await tx.$executeRawUnsafe('SAVEPOINT page_part');
  try {
    // The status changes inside the savepoint too: this path values robustness over holding
    // the feed lock for the shortest time.
    const { written, changes } = await writeAccounts(tx, page, accounts);
    await recordStatusChanges(tx, page, changes);
    await tx.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    return written;
  } catch (error) {
    if (!isDataError(error)) throw error;
    await tx.$executeRawUnsafe('ROLLBACK TO SAVEPOINT page_part');
    await tx.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    if (accounts.length === 1) {
      const account = accounts[0]!;
      const message = (page.redact ?? ((text: string) => text))(oneLineMessage(databaseMessageOf(error)));
      const raw = keptAsideJson(upvestShapeOf(account));
      refused.push({
        accountId: account.id,
        rawJson: raw.json,
        rawTruncated: raw.truncated,
        reason: `PostgreSQL refused it (SQLSTATE ${sqlStateOf(error)}): ${message}`.slice(0, 1_000),
      });
      return NOTHING_WRITTEN;
    }
    const middle = Math.ceil(accounts.length / 2);
    const first = await writeIsolating(tx, page, accounts.slice(0, middle), refused);
    return addWritten(first, await writeIsolating(tx, page, accounts.slice(middle), refused));
  }
}

/** SQLSTATE classes of a statement refused for the data it carried. */
function isDataError(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && ['22', '23', '54'].includes(state.slice(0, 2));
}

async function recordOutcome(tx: Tx, page: PageWrite, written: Written, refused: KeptAside[]): Promise<PageOutcome> {
  const outcome: PageOutcome = {
    inserted: written.inserted,
    updated: written.updated,
    unchanged: written.accounts - written.inserted - written.updated,
    statusChanges: written.statusChanges,
    rejected: page.rejected.length + refused.length,
  };
  const rejected = refused.length === 0 ? page.rejected : [...page.rejected, ...refused];
  await recordPage(tx, page, outcome, rejected);
  // A page with rejected records is written in full every time, so that every run keeps them aside.
  if (page.fingerprint && rejected.length === 0) await rememberFingerprint(tx, page, page.fingerprint);
  return outcome;
}

/** An account record back in the shape Upvest serves, for keeping it aside. */
function upvestShapeOf(a: AccountRecord): Record<string, unknown> {
  return {
    id: a.id,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
    account_group_id: a.accountGroupId,
    type: a.type,
    users: a.users,
    name: a.name,
    status: a.status,
    account_number: a.accountNumber,
  };
}

/** One JSON parameter per set: PostgreSQL parses it faster than the driver serialises arrays. */
function accountsJsonOf(accounts: AccountRecord[]): string {
  return JSON.stringify(
    accounts.map((a) => ({
      id: a.id,
      account_group_id: a.accountGroupId,
      type: a.type,
      name: a.name,
      status: a.status,
      account_number: a.accountNumber,
      created_at: a.createdAt,
      updated_at: a.updatedAt,
    })),
  );
}

function linksJsonOf(accounts: AccountRecord[]): string {
  return JSON.stringify(accounts.flatMap((a) => a.users.map((u) => ({ account_id: a.id, user_id: u.id, type: u.type }))));
}

function newestById(accounts: AccountRecord[]): AccountRecord[] {
  const byId = new Map<string, AccountRecord>();
  for (const account of accounts) {
    const seen = byId.get(account.id);
    if (!seen || Date.parse(account.updatedAt) >= Date.parse(seen.updatedAt)) byId.set(account.id, account);
  }
  return [...byId.values()];
}

interface WrittenRow {
  id: string;
  from_status: string | null;
  to_status: string;
  changed_at: string;
  inserted: boolean;
}

/**
 * Upserts the page's accounts. Every part of the WITH reads the rows as they were before the
 * statement (one snapshot), which is what a status change needs as its from_status. Rows that
 * would not change are filtered out before the INSERT ... ON CONFLICT, which would otherwise
 * lock (and so dirty) every row it looks at. An older version than the stored one (fetched
 * before a newer one was written) is never written over the newer.
 */
async function upsertAccounts(tx: Tx, page: PageWrite, accountsJson: string): Promise<WrittenRow[]> {
  // The planner cannot know how many rows a JSON parameter holds (it assumes 100), so the
  // statement avoids joins whose plan depends on that: index lookups into accounts, and the
  // pairing of written rows with their previous status done by the caller.
  const rows = await tx.$queryRaw<Array<{ kind: 'written' | 'previous'; id: string; status: string | null; changed_at: string | null; inserted: boolean | null }>>`
    WITH input AS (
      SELECT * FROM json_to_recordset(${accountsJson}::json) AS t(
        id uuid, account_group_id uuid, type text, name text, status text, account_number bigint,
        created_at timestamptz, updated_at timestamptz)
    ),
    compared AS (
      SELECT i.*, a.id IS NOT NULL AS known, a.status AS previous_status,
             (a.id IS NULL OR (i.updated_at >= a.updated_at
               AND (a.account_group_id, a.type, a.name, a.status, a.account_number, a.created_at, a.updated_at, a.deleted_at)
                   IS DISTINCT FROM
                   (i.account_group_id, i.type, i.name, i.status, i.account_number, i.created_at, i.updated_at, NULL::timestamptz)))
               AS differs
      -- LATERAL ... LIMIT 1 keeps this an index lookup per account, whatever the planner
      -- believes about the table's size (see the note on lookups above writePage).
      FROM input i LEFT JOIN LATERAL (SELECT * FROM accounts a WHERE a.id = i.id LIMIT 1) a ON true
    ),
    written AS (
      INSERT INTO accounts AS a (id, account_group_id, type, name, status, account_number, created_at,
                                 updated_at, first_seen_at, last_seen_at, deleted_at, last_sync_run_id)
      SELECT id, account_group_id, type, name, status, account_number, created_at, updated_at,
             ${page.observedAt}, ${page.observedAt}, NULL, ${page.runId}
      FROM compared WHERE differs ORDER BY id
      ON CONFLICT (id) DO UPDATE SET
        account_group_id = EXCLUDED.account_group_id,
        type = EXCLUDED.type,
        name = EXCLUDED.name,
        status = EXCLUDED.status,
        account_number = EXCLUDED.account_number,
        created_at = EXCLUDED.created_at,
        updated_at = EXCLUDED.updated_at,
        last_seen_at = EXCLUDED.last_seen_at,
        deleted_at = NULL,
        last_sync_run_id = EXCLUDED.last_sync_run_id
      -- Checked again against the row as it is now: a parallel page may have just written it.
      WHERE EXCLUDED.updated_at >= a.updated_at
        AND (a.account_group_id, a.type, a.name, a.status, a.account_number, a.created_at, a.updated_at, a.deleted_at)
            IS DISTINCT FROM
            (EXCLUDED.account_group_id, EXCLUDED.type, EXCLUDED.name, EXCLUDED.status, EXCLUDED.account_number,
             EXCLUDED.created_at, EXCLUDED.updated_at, NULL::timestamptz)
      RETURNING a.id, a.status, a.updated_at, (a.xmax = 0) AS inserted
    )
    SELECT 'written' AS kind, id::text AS id, status, updated_at::text AS changed_at, inserted FROM written
    UNION ALL
    SELECT 'previous', id::text, previous_status, NULL, NULL FROM compared WHERE differs AND known`;
  const previous = new Map<string, string | null>();
  for (const row of rows) if (row.kind === 'previous') previous.set(row.id, row.status);
  return rows
    .filter((row) => row.kind === 'written')
    .map((row) => ({
      id: row.id,
      from_status: previous.get(row.id) ?? null,
      to_status: row.status!,
      changed_at: row.changed_at!,
      inserted: row.inserted!,
    }));
}

/**
 * Makes account_users each account's current list, creating users first seen. A statement of
 * its own, after the accounts: every page transaction takes its locks in the same order
 * (accounts, then users and links, each sorted), so parallel pages cannot deadlock, and a page
 * that waited for a parallel one to commit an account sees that page's links too.
 * Only accounts whose stored version is the one on the page are touched. Returns the accounts
 * whose links changed.
 */
async function syncLinks(tx: Tx, page: PageWrite, accounts: AccountRecord[]): Promise<string[]> {
  const accountsJson = JSON.stringify(accounts.map((a) => ({ id: a.id, updated_at: a.updatedAt })));
  const linksJson = linksJsonOf(accounts);
  const rows = await tx.$queryRaw<Array<{ account_id: string }>>`
    WITH current AS (
      SELECT a.id FROM json_to_recordset(${accountsJson}::json) AS i(id uuid, updated_at timestamptz)
      JOIN LATERAL (SELECT a.id FROM accounts a WHERE a.id = i.id AND a.updated_at = i.updated_at LIMIT 1) a ON true
    ),
    wanted AS (
      SELECT l.* FROM json_to_recordset(${linksJson}::json) AS l(account_id uuid, user_id uuid, type text)
      JOIN current c ON c.id = l.account_id
    ),
    existing AS (
      SELECT au.* FROM current c
      JOIN LATERAL (SELECT * FROM account_users au WHERE au.account_id = c.id LIMIT 10000) au ON true
    ),
    ${newUsersOf(page)},
    -- EXCEPT is hashed whatever the row estimates; an anti-join on them may not be.
    removed AS (
      DELETE FROM account_users au
      USING (SELECT account_id, user_id FROM existing EXCEPT SELECT account_id, user_id FROM wanted) gone
      WHERE au.account_id = gone.account_id AND au.user_id = gone.user_id
      RETURNING au.account_id
    ),
    added AS (
      INSERT INTO account_users AS au (account_id, user_id, type)
      SELECT account_id, user_id, type
      FROM (SELECT account_id, user_id, type FROM wanted EXCEPT SELECT account_id, user_id, type FROM existing) fresh
      ORDER BY 1, 2
      ON CONFLICT (account_id, user_id) DO UPDATE SET type = EXCLUDED.type
      WHERE au.type IS DISTINCT FROM EXCLUDED.type
      RETURNING au.account_id
    )
    SELECT account_id::text AS account_id FROM removed UNION SELECT account_id::text FROM added`;
  return rows.map((row) => row.account_id);
}

/** The CTE that stores the users of the links in `wanted` not seen before. */
function newUsersOf(page: PageWrite): Prisma.Sql {
  return Prisma.sql`new_users AS (
      INSERT INTO users (id, first_seen_at, last_seen_at)
      SELECT DISTINCT w.user_id, ${page.observedAt}::timestamptz, ${page.observedAt}::timestamptz FROM wanted w
      LEFT JOIN LATERAL (SELECT u.id FROM users u WHERE u.id = w.user_id LIMIT 1) known ON true
      WHERE known.id IS NULL
      ORDER BY 1
      ON CONFLICT (id) DO NOTHING
    )`;
}

/** Users first seen and the links of accounts this transaction created. */
async function insertLinks(tx: Tx, page: PageWrite, accounts: AccountRecord[]): Promise<void> {
  await tx.$executeRaw`
    WITH wanted AS (
      SELECT * FROM json_to_recordset(${linksJsonOf(accounts)}::json) AS l(account_id uuid, user_id uuid, type text)
    ),
    ${newUsersOf(page)}
    INSERT INTO account_users (account_id, user_id, type)
    SELECT account_id, user_id, type FROM wanted ORDER BY 1, 2
    ON CONFLICT (account_id, user_id) DO NOTHING`;
}

async function recordStatusChanges(tx: Tx, page: PageWrite, changes: WrittenRow[]): Promise<number> {
  if (changes.length === 0) return 0;
  const changesJson = JSON.stringify(
    changes.map((c) => ({ account_id: c.id, from_status: c.from_status, to_status: c.to_status, changed_at: c.changed_at })),
  );
  // The lock (see FEED_LOCK_KEY) is joined in, so it is held before the first id is drawn,
  // and until commit: ids become visible in the order they were handed out.
  const [inserted] = await tx.$queryRaw<Array<{ count: number }>>`
    WITH feed_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${FEED_LOCK_KEY}) AS locked),
    added AS (
      INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id)
      -- Sorted in a subquery: ids are drawn above it, so they follow changed_at.
      SELECT account_id, from_status, to_status, changed_at, ${page.observedAt}, ${page.runId}
      FROM (SELECT c.* FROM feed_lock, json_to_recordset(${changesJson}::json)
                 AS c(account_id uuid, from_status text, to_status text, changed_at timestamptz)
            ORDER BY c.changed_at, c.account_id) AS sorted
      RETURNING id
    ),
    summary AS (SELECT count(*)::int AS count, max(id)::text AS max_id FROM added)
    SELECT count
    FROM summary,
         LATERAL (SELECT pg_notify(${FEED_CHANNEL},
                   json_build_object('sync_run_id', ${String(page.runId)}::text, 'max_id', max_id, 'count', count)::text)) AS notified`;
  return inserted?.count ?? 0;
}

export type UnchangedPage = Omit<PageWrite, 'accounts' | 'rejected' | 'observedAt' | 'fingerprint'> & {
  fingerprint: { limit: number; digest: string };
};

/**
 * Records the page as seen if the last full run wrote exactly this page at this position: then
 * every account on it is already stored as served, and every record on it was valid (a full
 * run rewrites the fingerprint of each page it writes, keeps none for a page with a rejected
 * record, and one that listed the page differently or marked one of its accounts deleted left
 * a different fingerprint). So the caller need not even validate the page. One statement;
 * the outcome if it recorded the page, null if the page must be written.
 */
export async function recordUnchangedPage(prisma: PrismaClient, page: UnchangedPage): Promise<PageOutcome | null> {
  const { fingerprint } = page;
  const unchanged = new Set(page.listedIds).size;
  const recorded = await prisma.$executeRaw`
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, unchanged, retries)
    SELECT ${page.runId}, ${page.pageIndex}, ${page.offset}, ${page.itemCount}, ${page.totalCount},
           ${page.firstId}, ${page.lastId}, ${page.listedIds}::uuid[], ${unchanged}, ${page.retries}
    WHERE EXISTS (SELECT 1 FROM sync_page_fingerprints
                  WHERE page_offset = ${page.offset} AND page_limit = ${fingerprint.limit}
                    AND fingerprint = ${fingerprint.digest})`;
  return recorded === 1 ? { inserted: 0, updated: 0, unchanged, statusChanges: 0, rejected: 0 } : null;
}

async function rememberFingerprint(tx: Tx, page: PageWrite, fingerprint: { limit: number; digest: string }): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO sync_page_fingerprints AS f (page_offset, page_limit, fingerprint, sync_run_id)
    VALUES (${page.offset}, ${fingerprint.limit}, ${fingerprint.digest}, ${page.runId})
    ON CONFLICT (page_offset, page_limit) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, sync_run_id = EXCLUDED.sync_run_id`;
}

/** The page's bookkeeping row and its rejected records, in one statement. */
async function recordPage(tx: Tx, page: PageWrite, outcome: PageOutcome, rejected: KeptAside[]): Promise<void> {
  // Built as text: each raw record is already JSON text jsonb accepts.
  const rejectedJson = `[${rejected
    .map(
      (r) =>
        `{"account_id":${r.accountId === null ? 'null' : jsonbString(r.accountId)},"reason":${jsonbString(r.reason)},` +
        `"raw_truncated":${r.rawTruncated},"raw":${r.rawJson}}`,
    )
    .join(',')}]`;
  const unidentified = page.unidentified ?? 0;
  await tx.$executeRaw`
    WITH rejected AS (
      INSERT INTO rejected_records (sync_run_id, page_offset, account_id, raw, raw_truncated, reason)
      SELECT ${page.runId}, ${page.offset}, r.account_id, coalesce(r.raw, 'null'::jsonb), r.raw_truncated, r.reason
      FROM jsonb_to_recordset(${rejectedJson}::jsonb) AS r(account_id text, raw jsonb, raw_truncated boolean, reason text)
    )
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, inserted, updated, unchanged, status_changes, rejected, unidentified, retries)
    VALUES (${page.runId}, ${page.pageIndex}, ${page.offset}, ${page.itemCount}, ${page.totalCount},
            ${page.firstId}, ${page.lastId}, ${page.listedIds}::uuid[], ${outcome.inserted}, ${outcome.updated},
            ${outcome.unchanged}, ${outcome.statusChanges}, ${outcome.rejected}, ${unidentified}, ${page.retries})`;
}
