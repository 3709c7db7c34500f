// Statements on sync_page_fingerprints: what a full run's pages listed, by position, so that a
// later full run recognises a page served exactly as it was and only records it. Raw SQL: the
// upsert copies the batch's page rows in one statement, and keys_for = fingerprint compares two columns.
import type { Db, RawStatements } from '../../db/prisma.js';

/**
 * Remembers the pages' fingerprints with what they listed, copied from the bookkeeping rows
 * just recorded in the same transaction (recordPages): the ids are not sent twice.
 */
export async function rememberFingerprints(
  db: RawStatements,
  runId: bigint,
  pages: ReadonlyArray<{ index: number; offset: number; fingerprint: { limit: number; digest: string } }>,
): Promise<void> {
  if (pages.length === 0) return;
  const json = JSON.stringify(
    pages.map((p) => ({ page_index: p.index, page_offset: p.offset, page_limit: p.fingerprint.limit, fingerprint: p.fingerprint.digest })),
  );
  await db.$executeRaw`
    INSERT INTO sync_page_fingerprints AS f (page_offset, page_limit, fingerprint, sync_run_id, item_count, first_id, last_id, account_ids,
                                             first_key, last_key, head_ties, tail_ties, keys_for)
    SELECT p.page_offset, p.page_limit, p.fingerprint, r.sync_run_id, r.item_count, r.first_id, r.last_id, r.account_ids,
           r.first_key, r.last_key, r.head_ties, r.tail_ties, p.fingerprint
    FROM json_to_recordset(${json}::json) AS p(page_index int, page_offset int, page_limit int, fingerprint text)
    JOIN sync_run_pages r ON r.sync_run_id = ${runId}::bigint AND r.page_index = p.page_index
    ORDER BY 1, 2
    ON CONFLICT (page_offset, page_limit) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, sync_run_id = EXCLUDED.sync_run_id,
      item_count = EXCLUDED.item_count, first_id = EXCLUDED.first_id, last_id = EXCLUDED.last_id, account_ids = EXCLUDED.account_ids,
      first_key = EXCLUDED.first_key, last_key = EXCLUDED.last_key, head_ties = EXCLUDED.head_ties, tail_ties = EXCLUDED.tail_ties,
      keys_for = EXCLUDED.keys_for`;
}

/** What a fingerprinted page listed, for recognising it as served again (see walk.ts). */
export interface KnownPage {
  digest: string;
  count: number;
  firstId: string | null;
  lastId: string | null;
}

/**
 * The fingerprints of pages of `limit` accounts, by offset, when there are at most `max` of
 * them (they are held in memory for the whole walk); otherwise none.
 */
export async function knownPages(db: Db, limit: number, max: number): Promise<Map<number, KnownPage>> {
  const rows = await db.$queryRaw<Array<{ page_offset: number; fingerprint: string; item_count: number; first_id: string | null; last_id: string | null }>>`
    SELECT page_offset, fingerprint, item_count, first_id, last_id FROM sync_page_fingerprints
    WHERE page_limit = ${limit} AND keys_for = fingerprint ORDER BY page_offset LIMIT ${max + 1}`;
  if (rows.length > max) return new Map();
  return new Map(rows.map((r) => [r.page_offset, { digest: r.fingerprint, count: r.item_count, firstId: r.first_id, lastId: r.last_id }]));
}
