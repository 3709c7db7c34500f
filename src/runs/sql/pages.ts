// Statements on sync_run_pages (a run's committed pages) and on rejected_records, which are
// written with their page. One function each.
import type { Db } from '../../db/prisma.js';
import type { PageMeta } from '../assessment.js';
import { jsonbString } from '../kept-aside.js';

/** A record kept aside in rejected_records, already in the form it is stored in. */
export interface KeptAside {
  /** Its id when it has a usable one (a UUID): it is still listed, so never marked deleted. */
  accountId: string | null;
  /** JSON text jsonb accepts (see kept-aside.ts). */
  rawJson: string;
  rawTruncated: boolean;
  reason: string;
}

export interface PageRecord extends Omit<PageMeta, 'count'> {
  runId: bigint;
  itemCount: number;
  /** Every id the page listed, rejected records with a usable id included. */
  listedIds: string[];
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  rejected: number;
  /** Records kept aside without a usable id. */
  unidentified: number;
  retries: number;
}

/** The page's bookkeeping row and its rejected records, in one statement. */
export async function recordPage(db: Db, page: PageRecord, rejected: ReadonlyArray<KeptAside>): Promise<void> {
  // Built as text: each raw record is already JSON text jsonb accepts.
  const rejectedJson = `[${rejected
    .map(
      (r) =>
        `{"account_id":${r.accountId === null ? 'null' : jsonbString(r.accountId)},"reason":${jsonbString(r.reason)},` +
        `"raw_truncated":${r.rawTruncated},"raw":${r.rawJson}}`,
    )
    .join(',')}]`;
  await db.$executeRaw`
    WITH rejected AS (
      INSERT INTO rejected_records (sync_run_id, page_offset, account_id, raw, raw_truncated, reason)
      SELECT ${page.runId}, ${page.offset}, r.account_id, coalesce(r.raw, 'null'::jsonb), r.raw_truncated, r.reason
      FROM jsonb_to_recordset(${rejectedJson}::jsonb) AS r(account_id text, raw jsonb, raw_truncated boolean, reason text)
    )
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, inserted, updated, unchanged, status_changes, rejected, unidentified, retries)
    VALUES (${page.runId}, ${page.index}, ${page.offset}, ${page.itemCount}, ${page.totalCount},
            ${page.firstId}, ${page.lastId}, ${page.listedIds}::uuid[], ${page.inserted}, ${page.updated},
            ${page.unchanged}, ${page.statusChanges}, ${page.rejected}, ${page.unidentified}, ${page.retries})`;
}

/**
 * Records the page as seen, all its accounts unchanged, if a full run last wrote exactly this
 * page at this position (see sync_page_fingerprints). One statement; whether it recorded.
 */
export async function recordPageIfFingerprinted(
  db: Db,
  page: Omit<PageRecord, 'inserted' | 'updated' | 'statusChanges' | 'rejected' | 'unidentified'>,
  fingerprint: { limit: number; digest: string },
): Promise<boolean> {
  const recorded = await db.$executeRaw`
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, unchanged, retries)
    SELECT ${page.runId}, ${page.index}, ${page.offset}, ${page.itemCount}, ${page.totalCount},
           ${page.firstId}, ${page.lastId}, ${page.listedIds}::uuid[], ${page.unchanged}, ${page.retries}
    WHERE EXISTS (SELECT 1 FROM sync_page_fingerprints
                  WHERE page_offset = ${page.offset} AND page_limit = ${fingerprint.limit}
                    AND fingerprint = ${fingerprint.digest})`;
  return recorded === 1;
}

export async function rememberFingerprint(
  db: Db,
  page: { runId: bigint; offset: number },
  fingerprint: { limit: number; digest: string },
): Promise<void> {
  await db.$executeRaw`
    INSERT INTO sync_page_fingerprints AS f (page_offset, page_limit, fingerprint, sync_run_id)
    VALUES (${page.offset}, ${fingerprint.limit}, ${fingerprint.digest}, ${page.runId})
    ON CONFLICT (page_offset, page_limit) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, sync_run_id = EXCLUDED.sync_run_id`;
}

export async function committedPages(db: Db, runId: bigint): Promise<PageMeta[]> {
  const rows = await db.$queryRaw<
    Array<{ page_index: number; page_offset: number; item_count: number; total_count: number; first_id: string | null; last_id: string | null }>
  >`
    SELECT page_index, page_offset, item_count, total_count, first_id, last_id
    FROM sync_run_pages WHERE sync_run_id = ${runId} ORDER BY page_index`;
  return rows.map((row) => ({
    index: row.page_index,
    offset: row.page_offset,
    count: row.item_count,
    totalCount: row.total_count,
    firstId: row.first_id,
    lastId: row.last_id,
  }));
}

export interface PageSums {
  inserted: number;
  updated: number;
  unchanged: number;
  statusChanges: number;
  rejected: number;
  unidentified: number;
  retries: number;
  /** Ids listed by all pages, repeats included, and distinct ones. */
  listed: number;
  distinctIds: number;
}

export async function pageSums(db: Db, runId: bigint): Promise<PageSums> {
  const [row] = await db.$queryRaw<Array<Record<keyof PageSums, number>>>`
    SELECT coalesce(sum(inserted), 0)::int AS inserted, coalesce(sum(updated), 0)::int AS updated,
           coalesce(sum(unchanged), 0)::int AS unchanged, coalesce(sum(status_changes), 0)::int AS "statusChanges",
           coalesce(sum(rejected), 0)::int AS rejected, coalesce(sum(unidentified), 0)::int AS unidentified,
           coalesce(sum(retries), 0)::int AS retries,
           (SELECT count(*) FROM sync_run_pages p, unnest(p.account_ids) WHERE p.sync_run_id = ${runId})::int AS listed,
           (SELECT count(DISTINCT id) FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${runId})::int
             AS "distinctIds"
    FROM sync_run_pages WHERE sync_run_id = ${runId}`;
  return row!;
}

/**
 * Marks deleted every live account the run's pages do not list. Only after a complete and
 * consistent walk of the whole list, which is the caller's to judge.
 */
export async function markUnlistedDeleted(db: Db, runId: bigint, at: Date): Promise<number> {
  return db.$executeRaw`
    WITH listed AS MATERIALIZED (
      SELECT DISTINCT id FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${runId}
    )
    UPDATE accounts a SET deleted_at = ${at}, last_sync_run_id = ${runId}
    WHERE a.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM listed l WHERE l.id = a.id)`;
}

export async function clearPages(db: Db, runId: bigint): Promise<void> {
  await db.$executeRaw`DELETE FROM sync_run_pages WHERE sync_run_id = ${runId}`;
}

/** Page bookkeeping of finished runs is no longer needed by anyone. */
export async function pruneFinishedRunPages(db: Db): Promise<void> {
  await db.$executeRaw`
    DELETE FROM sync_run_pages WHERE sync_run_id IN (SELECT id FROM sync_runs WHERE status IN ('succeeded', 'failed'))`;
}
