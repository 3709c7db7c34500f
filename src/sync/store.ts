// Writes one page of accounts in one transaction, set-based: a handful of statements whatever
// the page size, no statement per account. An unchanged account causes no row write, so
// writing the same page twice changes nothing.
import { FEED_CHANNEL, FEED_LOCK_KEY } from '../db/feed.js';
import type { PrismaClient } from '../db/prisma.js';
import type { AccountRecord, RejectedAccount } from '../upvest/schema.js';
import { withTransactionRetry } from '../db/transactions.js';

export type { AccountRecord, RejectedAccount };

export interface PageWrite {
  runId: bigint;
  pageIndex: number;
  offset: number;
  totalCount: number;
  itemCount: number;
  firstId: string | null;
  lastId: string | null;
  accounts: AccountRecord[];
  rejected: RejectedAccount[];
  /** Every id the page listed, rejected records with a usable id included. */
  listedIds: string[];
  retries: number;
  observedAt: Date;
}

export interface PageOutcome {
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  rejected: number;
}

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export async function writePage(prisma: PrismaClient, page: PageWrite): Promise<PageOutcome> {
  // Within a page the same id can only be written once per statement; keep its newest version.
  // Sorting by id gives every transaction the same lock order, which keeps parallel page
  // writers from deadlocking on the rows two pages share.
  const accounts = newestById(page.accounts).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return withTransactionRetry(() =>
    prisma.$transaction(
      async (tx) => {
        const written = await upsertAccounts(tx, page, accounts);
        await insertUsers(tx, accounts, page.observedAt);
        const relinked = await syncLinks(tx, accounts);
        const statusChanges = await recordStatusChanges(tx, page, written);
        await keepRejected(tx, page);
        let inserted = 0;
        const updatedIds = new Set(relinked);
        for (const row of written) {
          if (row.inserted) inserted += 1;
          else updatedIds.add(row.id);
        }
        for (const row of written) if (row.inserted) updatedIds.delete(row.id);
        const outcome: PageOutcome = {
          inserted,
          updated: updatedIds.size,
          unchanged: accounts.length - inserted - updatedIds.size,
          statusChanges,
          rejected: page.rejected.length,
        };
        await recordPage(tx, page, outcome);
        return outcome;
      },
      { maxWait: 30_000, timeout: 120_000 },
    ),
  );
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
  was_deleted: boolean;
}

async function upsertAccounts(tx: Tx, page: PageWrite, accounts: AccountRecord[]): Promise<WrittenRow[]> {
  if (accounts.length === 0) return [];
  // `previous` reads the rows as they were before this statement (one snapshot for the whole
  // WITH), which is what the status change needs as its from_status.
  // An older version than the stored one (a page fetched before a newer one was written) is
  // never written over the newer.
  return tx.$queryRaw<WrittenRow[]>`
    WITH input AS (
      SELECT * FROM unnest(
        ${accounts.map((a) => a.id)}::uuid[],
        ${accounts.map((a) => a.accountGroupId)}::uuid[],
        ${accounts.map((a) => a.type)}::text[],
        ${accounts.map((a) => a.name)}::text[],
        ${accounts.map((a) => a.status)}::text[],
        ${accounts.map((a) => String(a.accountNumber))}::bigint[],
        ${accounts.map((a) => a.createdAt)}::timestamptz[],
        ${accounts.map((a) => a.updatedAt)}::timestamptz[]
      ) AS t(id, account_group_id, type, name, status, account_number, created_at, updated_at)
    ),
    previous AS (
      SELECT a.id, a.status, a.deleted_at FROM accounts a JOIN input i ON i.id = a.id
    ),
    written AS (
      INSERT INTO accounts AS a (id, account_group_id, type, name, status, account_number, created_at,
                                 updated_at, first_seen_at, last_seen_at, deleted_at, last_sync_run_id)
      SELECT id, account_group_id, type, name, status, account_number, created_at, updated_at,
             ${page.observedAt}, ${page.observedAt}, NULL, ${page.runId}
      FROM input
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
      WHERE EXCLUDED.updated_at >= a.updated_at
        AND (a.account_group_id, a.type, a.name, a.status, a.account_number, a.created_at, a.updated_at, a.deleted_at)
            IS DISTINCT FROM
            (EXCLUDED.account_group_id, EXCLUDED.type, EXCLUDED.name, EXCLUDED.status, EXCLUDED.account_number,
             EXCLUDED.created_at, EXCLUDED.updated_at, NULL::timestamptz)
      RETURNING a.id, a.status, a.updated_at, (a.xmax = 0) AS inserted
    )
    SELECT w.id::text AS id, p.status AS from_status, w.status AS to_status,
           w.updated_at::text AS changed_at, w.inserted, (p.deleted_at IS NOT NULL) AS was_deleted
    FROM written w LEFT JOIN previous p ON p.id = w.id`;
}

async function insertUsers(tx: Tx, accounts: AccountRecord[], observedAt: Date): Promise<void> {
  const ids = [...new Set(accounts.flatMap((a) => a.users.map((u) => u.id)))].sort();
  if (ids.length === 0) return;
  await tx.$executeRaw`
    INSERT INTO users (id, first_seen_at, last_seen_at)
    SELECT id, ${observedAt}, ${observedAt} FROM unnest(${ids}::uuid[]) AS t(id)
    ON CONFLICT (id) DO NOTHING`;
}

/**
 * Makes account_users the current list of each account on the page — but only for accounts
 * whose stored version is the one on the page (not a newer one written meanwhile).
 * Returns the accounts whose links changed.
 */
async function syncLinks(tx: Tx, accounts: AccountRecord[]): Promise<string[]> {
  if (accounts.length === 0) return [];
  const links = accounts.flatMap((a) => a.users.map((u) => ({ accountId: a.id, userId: u.id, type: u.type })));
  const rows = await tx.$queryRaw<Array<{ account_id: string }>>`
    WITH current AS (
      SELECT c.account_id FROM unnest(${accounts.map((a) => a.id)}::uuid[], ${accounts.map((a) => a.updatedAt)}::timestamptz[])
             AS c(account_id, updated_at)
      JOIN accounts a ON a.id = c.account_id AND a.updated_at = c.updated_at
    ),
    wanted AS (
      SELECT l.account_id, l.user_id, l.type
      FROM unnest(${links.map((l) => l.accountId)}::uuid[], ${links.map((l) => l.userId)}::uuid[], ${links.map((l) => l.type)}::text[])
           AS l(account_id, user_id, type)
      JOIN current USING (account_id)
    ),
    removed AS (
      DELETE FROM account_users au
      USING current
      WHERE au.account_id = current.account_id
        AND NOT EXISTS (SELECT 1 FROM wanted w WHERE w.account_id = au.account_id AND w.user_id = au.user_id)
      RETURNING au.account_id
    ),
    added AS (
      INSERT INTO account_users AS au (account_id, user_id, type)
      SELECT account_id, user_id, type FROM wanted ORDER BY account_id, user_id
      ON CONFLICT (account_id, user_id) DO UPDATE SET type = EXCLUDED.type
      WHERE au.type IS DISTINCT FROM EXCLUDED.type
      RETURNING au.account_id
    )
    SELECT account_id::text AS account_id FROM removed UNION SELECT account_id::text FROM added`;
  return rows.map((row) => row.account_id);
}

async function recordStatusChanges(tx: Tx, page: PageWrite, written: WrittenRow[]): Promise<number> {
  const changes = written.filter((row) => row.from_status !== row.to_status);
  if (changes.length === 0) return 0;
  // See FEED_LOCK_KEY: ids must become visible in the order they were handed out.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${FEED_LOCK_KEY})`;
  const [inserted] = await tx.$queryRaw<Array<{ count: number; max_id: string }>>`
    WITH added AS (
      INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id)
      SELECT account_id, from_status, to_status, changed_at, ${page.observedAt}, ${page.runId}
      FROM unnest(${changes.map((c) => c.id)}::uuid[], ${changes.map((c) => c.from_status)}::text[],
                  ${changes.map((c) => c.to_status)}::text[], ${changes.map((c) => c.changed_at)}::timestamptz[])
           AS t(account_id, from_status, to_status, changed_at)
      ORDER BY changed_at, account_id
      RETURNING id
    )
    SELECT count(*)::int AS count, max(id)::text AS max_id FROM added`;
  const payload = JSON.stringify({ sync_run_id: String(page.runId), max_id: inserted?.max_id, count: inserted?.count });
  await tx.$executeRaw`SELECT pg_notify(${FEED_CHANNEL}, ${payload})`;
  return inserted?.count ?? 0;
}

async function keepRejected(tx: Tx, page: PageWrite): Promise<void> {
  if (page.rejected.length === 0) return;
  await tx.$executeRaw`
    INSERT INTO rejected_records (sync_run_id, page_offset, account_id, raw, reason)
    SELECT ${page.runId}, ${page.offset}, account_id, raw, reason
    FROM unnest(${page.rejected.map((r) => r.accountId)}::text[], ${page.rejected.map((r) => jsonForPostgres(r.raw))}::jsonb[],
                ${page.rejected.map((r) => r.reason)}::text[]) AS t(account_id, raw, reason)`;
}

/** JSON text PostgreSQL's jsonb accepts: it refuses \u0000, so that one escape is spelled out. */
export function jsonForPostgres(value: unknown): string {
  const json = JSON.stringify(value === undefined ? null : value);
  return json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\\\u0000');
}

async function recordPage(tx: Tx, page: PageWrite, outcome: PageOutcome): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, inserted, updated, unchanged, status_changes, rejected, retries)
    VALUES (${page.runId}, ${page.pageIndex}, ${page.offset}, ${page.itemCount}, ${page.totalCount},
            ${page.firstId}, ${page.lastId}, ${page.listedIds}::uuid[], ${outcome.inserted}, ${outcome.updated},
            ${outcome.unchanged}, ${outcome.statusChanges}, ${outcome.rejected}, ${page.retries})`;
}
