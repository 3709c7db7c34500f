// Statements reading sync_run_pages (a run's committed pages), one function each, and the lock
// every transaction writing them holds. Raw SQL where a statement is set-based (ids unnested,
// summed or compared in bulk) or keeps microseconds; the Prisma client's model for counts. Those writing them (and rejected_records, written with
// their page) are in page-writes.ts, which only the run's owner (src/runs/lifecycle.ts) calls.
import { Prisma, type Db, type PrismaClient, type RawStatements } from '../../db/prisma.js';
import { utcText } from './runs.js';
import type { PageMeta } from '../assessment.js';
import { jsonbString } from '../kept-aside.js';
import type { PageKeys } from '../coverage.js';

/** A record kept aside in rejected_records, already in the form it is stored in. */
export interface KeptAside {
  /** Its id when it has a usable one (a UUID): it is still listed, so never marked deleted. */
  accountId: string | null;
  /** JSON text jsonb accepts (see kept-aside.ts). */
  rawJson: string;
  rawTruncated: boolean;
  reason: string;
}

/** What pages did, one page's or a run's sum. */
export interface PageCounts {
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  rejected: number;
  /** Records kept aside without a usable id. */
  unidentified: number;
  retries: number;
}

/**
 * walk: a page of the walk's layout; heal: a window fetched to close a gap between pages (see
 * src/sync/heal.ts); catch_up: the newest-first pass after the walk; lookup: accounts looked up
 * one by one.
 */
export type PageKind = 'walk' | 'heal' | 'catch_up' | 'lookup';

/** What a page proves of the list by its sort key (see src/runs/coverage.ts). */
export interface PageCoverage {
  keys: PageKeys | null;
  /** It came back with fewer records than asked for, and none beyond by its own total. */
  endsList: boolean;
  /**
   * Accounts it left to the previous page's batch, and the last one's key: until that page is
   * committed listing them, this page proves only what lies above the key.
   */
  leftOut?: { ids: string[]; key: string } | null;
}

export interface PageRecord extends Omit<PageMeta, 'count'>, PageCounts, PageCoverage {
  runId: bigint;
  itemCount: number;
  /** Every id the page listed, rejected records with a usable id included. */
  listedIds: string[];
  kind: PageKind;
  /** Of a catch_up page: which pass (from 1). */
  catchUpPass: number;
}

/**
 * The advisory lock (two-key form, so never the one-key run and feed locks) that every
 * transaction writing a run's pages holds shared, and that a resumed run takes exclusively
 * before it reads what the run committed. A process killed while its COMMIT was on the way
 * leaves a backend that may still commit a page after the run lock is free again: the resumed
 * run waits for it instead of writing that page a second time.
 */
const PAGE_WRITES_LOCK_CLASS = 0x50414745;
/** The lock's second key: runs far apart may share one, which only makes one wait needlessly. */
const pageWritesObject = (runId: bigint) => Number(runId % 2_147_483_647n);
export const pageWritesKey = (runId: bigint) => Prisma.sql`${PAGE_WRITES_LOCK_CLASS}::int, ${pageWritesObject(runId)}::int`;

/** The same lock call as enterPageWrites, as text of numbers only: for a simple-protocol query. */
export function pageWritesLockCall(runId: bigint): string {
  return `pg_advisory_xact_lock_shared(${PAGE_WRITES_LOCK_CLASS}, ${pageWritesObject(runId)})`;
}

/** In a transaction writing the run's pages: first, so that a resumed run sees it through. */
export async function enterPageWrites(db: RawStatements, runId: bigint): Promise<void> {
  await db.$executeRaw`SELECT pg_advisory_xact_lock_shared(${pageWritesKey(runId)})`;
}

/** Returns once no transaction writing the run's pages is under way. */
export async function awaitPageWrites(prisma: PrismaClient, runId: bigint): Promise<void> {
  // A dead client's backend ends its transaction as soon as it reads the closed socket.
  await prisma.$transaction((tx) => tx.$executeRaw`SELECT pg_advisory_xact_lock(${pageWritesKey(runId)})`, { maxWait: 10_000, timeout: 120_000 });
}

/** A rejected record with the offset of the page it came from. */
export type PageRejection = KeptAside & { offset: number };

export type FingerprintedPage = Omit<
  PageRecord,
  'inserted' | 'updated' | 'statusChanges' | 'rejected' | 'unidentified' | 'kind' | 'catchUpPass' | 'listedIds' | 'unchanged' | 'keys'
> & {
  fingerprint: { limit: number; digest: string };
  /**
   * The page's ids and how many distinct, from its decoded records; null for a page recognised
   * without decoding them: they are then those its fingerprint keeps.
   */
  listed: { ids: string[]; distinct: number } | null;
};

/** The highest catch-up pass any attempt of the run committed a page of (0: none). */
export async function lastCatchUpPass(db: Db, runId: bigint): Promise<number> {
  const pages = await db.syncRunPage.aggregate({ where: { syncRunId: runId }, _max: { catchUpPass: true } });
  return pages._max.catchUpPass ?? 0;
}

/** Pages the run committed, those of its catch-up pass included. */
export async function pageCount(db: Db, runId: bigint): Promise<number> {
  return db.syncRunPage.count({ where: { syncRunId: runId } });
}

/** One past the highest index of any page the run committed, catch-up pages included. */
export async function nextFreePageIndex(db: Db, runId: bigint): Promise<number> {
  const pages = await db.syncRunPage.aggregate({ where: { syncRunId: runId }, _max: { pageIndex: true } });
  return (pages._max.pageIndex ?? -1) + 1;
}

/** The pages of the run's walk layout (not its heal windows, catch-up passes or lookups), by index. */
export async function committedPages(db: Db, runId: bigint): Promise<PageMeta[]> {
  const rows = await db.$queryRaw<
    Array<{ page_index: number; page_offset: number; item_count: number; total_count: number; first_id: string | null; last_id: string | null }>
  >`
    SELECT page_index, page_offset, item_count, total_count, first_id, last_id
    FROM sync_run_pages WHERE sync_run_id = ${runId} AND kind = 'walk' ORDER BY page_index`;
  return rows.map((row) => ({
    index: row.page_index,
    offset: row.page_offset,
    count: row.item_count,
    totalCount: row.total_count,
    firstId: row.first_id,
    lastId: row.last_id,
  }));
}

/** A page as coverage judges it (src/runs/coverage.ts), keys as RFC 3339 text with microseconds. */
export interface StoredCoverage {
  index: number;
  offset: number;
  count: number;
  totalCount: number;
  firstKey: string | null;
  lastKey: string | null;
  headTies: number;
  tailTies: number;
  endsList: boolean;
  /** It left accounts to a previous page not committed listing them: it proves only above their key (firstKey). */
  reduced: boolean;
}

/**
 * The pages whose keys together must cover the list: the walk's and its heal windows (`pass`
 * 0), or one catch-up pass's.
 */
export async function coveragePages(db: Db, runId: bigint, pass: number): Promise<StoredCoverage[]> {
  const rows = await db.$queryRaw<
    Array<{
      page_index: number;
      page_offset: number;
      item_count: number;
      total_count: number;
      first_key: string | null;
      last_key: string | null;
      head_ties: number;
      tail_ties: number;
      ends_list: boolean;
      reduced: boolean;
    }>
  >`
    WITH pages AS (
      SELECT p.*,
             -- What it left to the previous page counts only if that page is committed listing it.
             p.left_out IS NOT NULL AND NOT coalesce(p.left_out <@ (
               SELECT q.account_ids FROM sync_run_pages q
               WHERE q.sync_run_id = p.sync_run_id AND q.page_index = p.page_index - 1 AND q.kind = 'walk'), false) AS reduced
      FROM sync_run_pages p
      WHERE p.sync_run_id = ${runId}
        AND (CASE WHEN ${pass}::int = 0 THEN p.kind IN ('walk', 'heal') ELSE p.kind = 'catch_up' AND p.catch_up_pass = ${pass}::int END)
    )
    SELECT page_index, page_offset, item_count, total_count,
           ${utcText('CASE WHEN reduced THEN left_out_key ELSE first_key END')} AS first_key, ${utcText('last_key')} AS last_key,
           head_ties, tail_ties, ends_list, reduced
    FROM pages
    ORDER BY page_index`;
  return rows.map((r) => ({
    index: r.page_index,
    offset: r.page_offset,
    count: r.item_count,
    totalCount: r.total_count,
    firstKey: r.first_key,
    lastKey: r.last_key,
    headTies: r.head_ties,
    tailTies: r.tail_ties,
    endsList: r.ends_list,
    reduced: r.reduced,
  }));
}

/**
 * The last `n` ids each of these walk pages listed: a resumed walk's next page repeats them,
 * and writes them with the earlier page rather than insert them a second time.
 */
export async function walkTailIds(db: Db, runId: bigint, indices: readonly number[], n: number): Promise<Map<number, string[]>> {
  if (indices.length === 0) return new Map();
  const rows = await db.$queryRaw<Array<{ page_index: number; ids: string[] }>>`
    SELECT page_index, account_ids[greatest(1, cardinality(account_ids) - ${n}::int + 1):]::text[] AS ids
    FROM sync_run_pages WHERE sync_run_id = ${runId} AND kind = 'walk' AND page_index = ANY(${indices}::int[])`;
  return new Map(rows.map((r) => [r.page_index, r.ids]));
}

export interface PageSums extends PageCounts {
  /** Ids listed by all pages, repeats included, and distinct ones. */
  listed: number;
  distinctIds: number;
  /** The same for the walk's pages alone: repeats beyond the overlaps make a walk inconsistent. */
  walkListed: number;
  walkDistinctIds: number;
}

export async function pageSums(db: Db, runId: bigint): Promise<PageSums> {
  // The ids in one hash aggregate, read once for all four sums: at 1,000,000 ids a scan of
  // the aggregate for each sum took a third of the statement.
  const [row] = await db.$queryRaw<Array<Record<keyof PageSums, number>>>`
    WITH ids AS (
      SELECT id, count(*) AS n, count(*) FILTER (WHERE p.kind IN ('walk', 'heal')) AS n_walk
      FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${runId}
      GROUP BY id
    ),
    id_sums AS (
      SELECT coalesce(sum(n), 0)::int AS listed, count(*)::int AS "distinctIds",
             coalesce(sum(n_walk), 0)::int AS "walkListed", count(*) FILTER (WHERE n_walk > 0)::int AS "walkDistinctIds"
      FROM ids
    ),
    page_sums AS (
      SELECT coalesce(sum(inserted), 0)::int AS inserted, coalesce(sum(updated), 0)::int AS updated,
             coalesce(sum(unchanged), 0)::int AS unchanged, coalesce(sum(status_changes), 0)::int AS "statusChanges",
             coalesce(sum(rejected), 0)::int AS rejected,
             -- The walk's: what the catch-up pass or a lookup finds without an id is the same record again.
             coalesce(sum(unidentified) FILTER (WHERE kind IN ('walk', 'heal')), 0)::int AS unidentified,
             coalesce(sum(retries), 0)::int AS retries
      FROM sync_run_pages WHERE sync_run_id = ${runId}
    )
    SELECT page_sums.*, id_sums.* FROM page_sums, id_sums`;
  return row!;
}
