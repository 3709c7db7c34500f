// Writes pages of accounts in one transaction, together with the pages' bookkeeping rows and
// their rejected records: pages are committed whole or not at all, so a run resumes from its
// last committed page. Several pages per transaction when they arrive faster than they commit:
// fewer, larger statements. Writing the same pages twice changes nothing.
import type { PrismaClient, RawStatements } from '../db/prisma.js';
import { databaseMessageOf, sqlStateOf, withTransactionRetry } from '../db/transactions.js';
import { oneLineMessage } from '../errors.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import type { PageKeys } from '../runs/coverage.js';
import { recordRunPages } from '../runs/lifecycle.js';
import { rememberFingerprints } from '../runs/sql/fingerprints.js';
import { enterPageWrites, type KeptAside, type PageKind, type PageRecord, type PageRejection } from '../runs/sql/pages.js';
import type { AccountRecord } from '../upvest/schema.js';
import { byId, isDataError, recordChanges, writeAccounts, writeIsolating, type AccountsWritten, type WriteContext } from '../mirror/accounts.js';
import { upvestShapeOf } from '../mirror/mirror-writes.js';
import { toMicros } from '../mirror/timestamps.js';

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
  /** A page of the walk's layout unless said otherwise (see PageKind). */
  kind?: PageKind;
  catchUpPass?: number;
  /** What the page proves by its sort key (see src/runs/coverage.ts); none when absent. */
  keys?: PageKeys | null;
  endsList?: boolean;
  /** Accounts it leaves to the previous page's batch, and the last one's key (see page-writer.ts). */
  leftOut?: { ids: string[]; key: string };
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

/** One page in its own transaction. */
export async function writePage(prisma: PrismaClient, page: PageWrite): Promise<PageOutcome> {
  return (await writePages(prisma, [page]))[0]!;
}

/** The pages in one transaction; their outcomes, in order. All pages belong to one run. */
export async function writePages(prisma: PrismaClient, pages: PageWrite[]): Promise<PageOutcome[]> {
  // Within a statement the same id can only be written once; keep its newest version. Sorting
  // by id gives every transaction the same lock order, which keeps parallel writers from
  // deadlocking on the rows two batches share.
  const accounts = accountsOfBatch(pages);
  const at: WriteContext = { runId: pages[0]!.runId, observedAt: pages[0]!.observedAt };
  try {
    return await withTransactionRetry(() =>
      prisma.$transaction(
        async (tx) => {
          await enterPageWrites(tx, pages[0]!.runId);
          const written = await writeAccounts(tx, at, accounts);
          const outcomes = await recordOutcomes(tx, pages, written, new Map());
          // Last: from here to commit, page transactions take turns (see FEED_LOCK_KEY).
          await recordChanges(tx, at, written);
          return outcomes;
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
          await enterPageWrites(tx, pages[0]!.runId);
          const refused = new Map<string, KeptAside>();
          const redact = pages[0]!.redact ?? ((text: string) => text);
          const written = await writeIsolating(tx, at, accounts, (account, error) => refused.set(account.id, refusedRecord(account, error, redact)));
          return recordOutcomes(tx, pages, written, refused);
        },
        { maxWait: 30_000, timeout: 300_000 },
      ),
    );
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

/**
 * Each page's outcome, its bookkeeping row and rejected records, and its fingerprint. An
 * account two pages of the batch list (the overlap) counts for the first; for the other it is
 * unchanged, as it would have been had that page been written after.
 */
export async function recordOutcomes(db: RawStatements, pages: PageWrite[], written: AccountsWritten, refused: Map<string, KeptAside>): Promise<PageOutcome[]> {
  const counted = new Set<string>();
  const changed = new Set(written.changes.map((c) => c.id));
  const records: PageRecord[] = [];
  const rejections: PageRejection[] = [];
  const fingerprinted: Array<{ index: number; offset: number; fingerprint: { limit: number; digest: string } }> = [];
  const outcomes = pages.map((page) => {
    const outcome: PageOutcome = { inserted: 0, updated: 0, unchanged: 0, statusChanges: 0, rejected: page.rejected.length };
    const kept: KeptAside[] = [...page.rejected];
    for (const account of page.accounts) {
      const refusal = refused.get(account.id);
      if (refusal) {
        kept.push(refusal);
        outcome.rejected += 1;
      } else if (counted.has(account.id)) outcome.unchanged += 1;
      else if (written.inserted.has(account.id)) outcome.inserted += 1;
      else if (written.updated.has(account.id)) outcome.updated += 1;
      else outcome.unchanged += 1;
      if (!refusal && !counted.has(account.id) && changed.has(account.id)) outcome.statusChanges += 1;
      counted.add(account.id);
    }
    records.push(pageRecordOf(page, outcome));
    for (const record of kept) rejections.push({ ...record, offset: page.offset });
    // A page with rejected records is written in full every time, so that every run keeps them aside.
    if (page.fingerprint && kept.length === 0) fingerprinted.push({ index: page.pageIndex, offset: page.offset, fingerprint: page.fingerprint });
    return outcome;
  });
  await recordRunPages(db, records, rejections);
  await rememberFingerprints(db, pages[0]!.runId, fingerprinted);
  return outcomes;
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
    kind: page.kind ?? 'walk',
    catchUpPass: page.catchUpPass ?? 0,
    keys: page.keys ?? null,
    endsList: page.endsList ?? false,
    leftOut: page.leftOut ?? null,
  };
}

/** The batch's accounts, one version each, sorted by id (see writePages). */
export function accountsOfBatch(pages: ReadonlyArray<PageWrite>): AccountRecord[] {
  return newestById(pages.flatMap((page) => page.accounts)).sort(byId);
}

function newestById(accounts: AccountRecord[]): AccountRecord[] {
  const byAccount = new Map<string, AccountRecord>();
  for (const account of accounts) {
    const seen = byAccount.get(account.id);
    // At the precision PostgreSQL keeps: Date.parse would take two versions of the same
    // millisecond for one, and could keep the older.
    if (!seen || toMicros(account.updatedAt)! >= toMicros(seen.updatedAt)!) byAccount.set(account.id, account);
  }
  return [...byAccount.values()];
}
