// Writes one page of accounts in one transaction, together with the page's bookkeeping row
// and its rejected records: a page is committed whole or not at all, so a run resumes from its
// last committed page. Writing the same page twice changes nothing.
import type { Db, PrismaClient } from '../db/prisma.js';
import { databaseMessageOf, sqlStateOf, withTransactionRetry } from '../db/transactions.js';
import { oneLineMessage } from '../errors.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import { recordPage, rememberFingerprint, type KeptAside, type PageRecord } from '../runs/sql/pages.js';
import type { AccountRecord } from '../upvest/schema.js';
import { toMicros } from './timestamps.js';
import {
  insertLinks,
  recordStatusChanges,
  syncLinks,
  upsertAccounts,
  upvestShapeOf,
  type WriteContext,
  type WrittenRow,
} from './mirror-writes.js';

export type { AccountRecord, KeptAside };

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

interface Written {
  accounts: number;
  inserted: number;
  updated: number;
  statusChanges: number;
}

const NOTHING_WRITTEN: Written = { accounts: 0, inserted: 0, updated: 0, statusChanges: 0 };

export async function writePage(prisma: PrismaClient, page: PageWrite): Promise<PageOutcome> {
  // Within a page the same id can only be written once per statement; keep its newest version.
  // Sorting by id gives every transaction the same lock order, which keeps parallel page
  // writers from deadlocking on the rows two pages share.
  const accounts = newestById(page.accounts).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const at: WriteContext = { runId: page.runId, observedAt: page.observedAt };
  try {
    return await withTransactionRetry(() =>
      prisma.$transaction(
        async (tx) => {
          const { written, changes } = await writeAccounts(tx, at, accounts);
          const outcome = await recordOutcome(tx, page, written, []);
          // Last: from here to commit, page transactions take turns (see FEED_LOCK_KEY).
          await recordStatusChanges(tx, at, changes);
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
          const written = await writeIsolating(tx, at, accounts, refused, page.redact ?? ((text) => text));
          return recordOutcome(tx, page, written, refused);
        },
        { maxWait: 30_000, timeout: 300_000 },
      ),
    );
  }
}

/** The accounts, their users and links; the status changes they make are returned, not yet recorded. */
async function writeAccounts(
  db: Db,
  at: WriteContext,
  accounts: AccountRecord[],
): Promise<{ written: Written; changes: WrittenRow[] }> {
  if (accounts.length === 0) return { written: NOTHING_WRITTEN, changes: [] };
  const written = await upsertAccounts(db, at, accounts);
  // Accounts this transaction created cannot have links yet (a parallel page that lists
  // one too waits for this one to commit), so theirs are simply inserted; the others are
  // compared with what is stored.
  const created = new Set(written.filter((row) => row.inserted).map((row) => row.id));
  const known = accounts.filter((a) => !created.has(a.id));
  if (created.size > 0) await insertLinks(db, at, accounts.filter((a) => created.has(a.id)));
  const relinked = known.length === 0 ? [] : await syncLinks(db, at, known);
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
async function writeIsolating(
  db: Db,
  at: WriteContext,
  accounts: AccountRecord[],
  refused: KeptAside[],
  redact: (text: string) => string,
): Promise<Written> {
  if (accounts.length === 0) return NOTHING_WRITTEN;
  await db.$executeRawUnsafe('SAVEPOINT page_part');
  try {
    // The status changes inside the savepoint too: this path values robustness over holding
    // the feed lock for the shortest time.
    const { written, changes } = await writeAccounts(db, at, accounts);
    await recordStatusChanges(db, at, changes);
    await db.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    return written;
  } catch (error) {
    if (!isDataError(error)) throw error;
    await db.$executeRawUnsafe('ROLLBACK TO SAVEPOINT page_part');
    await db.$executeRawUnsafe('RELEASE SAVEPOINT page_part');
    if (accounts.length === 1) {
      refused.push(refusedRecord(accounts[0]!, error, redact));
      return NOTHING_WRITTEN;
    }
    const middle = Math.ceil(accounts.length / 2);
    const first = await writeIsolating(db, at, accounts.slice(0, middle), refused, redact);
    return addWritten(first, await writeIsolating(db, at, accounts.slice(middle), refused, redact));
  }
}

function refusedRecord(account: AccountRecord, error: unknown, redact: (text: string) => string): KeptAside {
  const raw = keptAsideJson(upvestShapeOf(account));
  const message = redact(oneLineMessage(databaseMessageOf(error)));
  return {
    accountId: account.id,
    rawJson: raw.json,
    rawTruncated: raw.truncated,
    reason: `PostgreSQL refused it (SQLSTATE ${sqlStateOf(error)}): ${message}`.slice(0, 1_000),
  };
}

/** SQLSTATE classes of a statement refused for the data it carried. */
function isDataError(error: unknown): boolean {
  const state = sqlStateOf(error);
  return state !== undefined && ['22', '23', '54'].includes(state.slice(0, 2));
}

function addWritten(a: Written, b: Written): Written {
  return {
    accounts: a.accounts + b.accounts,
    inserted: a.inserted + b.inserted,
    updated: a.updated + b.updated,
    statusChanges: a.statusChanges + b.statusChanges,
  };
}

async function recordOutcome(db: Db, page: PageWrite, written: Written, refused: KeptAside[]): Promise<PageOutcome> {
  const outcome: PageOutcome = {
    inserted: written.inserted,
    updated: written.updated,
    unchanged: written.accounts - written.inserted - written.updated,
    statusChanges: written.statusChanges,
    rejected: page.rejected.length + refused.length,
  };
  const rejected = refused.length === 0 ? page.rejected : [...page.rejected, ...refused];
  await recordPage(db, pageRecordOf(page, outcome), rejected);
  // A page with rejected records is written in full every time, so that every run keeps them aside.
  if (page.fingerprint && rejected.length === 0) await rememberFingerprint(db, page, page.fingerprint);
  return outcome;
}

function pageRecordOf(page: PageWrite, outcome: PageOutcome): PageRecord {
  return {
    runId: page.runId,
    index: page.pageIndex,
    offset: page.offset,
    itemCount: page.itemCount,
    totalCount: page.totalCount,
    firstId: page.firstId,
    lastId: page.lastId,
    listedIds: page.listedIds,
    ...outcome,
    unidentified: page.unidentified ?? 0,
    retries: page.retries,
  };
}

function newestById(accounts: AccountRecord[]): AccountRecord[] {
  const byId = new Map<string, AccountRecord>();
  for (const account of accounts) {
    const seen = byId.get(account.id);
    // At the precision PostgreSQL keeps: Date.parse would take two versions of the same
    // millisecond for one, and could keep the older.
    if (!seen || toMicros(account.updatedAt)! >= toMicros(seen.updatedAt)!) byId.set(account.id, account);
  }
  return [...byId.values()];
}
