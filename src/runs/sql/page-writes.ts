// Statements writing sync_run_pages (a run's committed pages) and rejected_records, written with
// their page; one function each. Only the run's owner, src/runs/lifecycle.ts, imports this file
// (test/architecture/run-owner.test.ts). Raw SQL: a batch's pages and records go in as one
// set-based statement (json_to_recordset), the hot path of every sync.
import type { Db, RawStatements } from '../../db/prisma.js';
import { jsonbString } from '../kept-aside.js';
import { pageWritesKey, type FingerprintedPage, type PageCoverage, type PageRecord, type PageRejection } from './pages.js';

/**
 * Ids as PostgreSQL's array literal, which it reads into uuid[] faster than a JSON array: every
 * listed id is a validated UUID, so none needs quoting.
 */
function uuidArrayLiteral(ids: ReadonlyArray<string>): string {
  return `{${ids.join(',')}}`;
}

/** Pages' bookkeeping rows and their rejected records, in one statement. */
export async function recordPages(db: RawStatements, pages: ReadonlyArray<PageRecord>, rejected: ReadonlyArray<PageRejection>): Promise<void> {
  if (pages.length === 0) return;
  const runId = pages[0]!.runId;
  // Built as text: each raw record is already JSON text jsonb accepts.
  const rejectedJson = `[${rejected
    .map(
      (r) =>
        `{"page_offset":${r.offset},"account_id":${r.accountId === null ? 'null' : jsonbString(r.accountId)},` +
        `"reason":${jsonbString(r.reason)},"raw_truncated":${r.rawTruncated},"raw":${r.rawJson}}`,
    )
    .join(',')}]`;
  const pagesJson = JSON.stringify(
    pages.map((p) => ({
      page_index: p.index,
      page_offset: p.offset,
      item_count: p.itemCount,
      total_count: p.totalCount,
      first_id: p.firstId,
      last_id: p.lastId,
      account_ids: uuidArrayLiteral(p.listedIds),
      inserted: p.inserted,
      updated: p.updated,
      unchanged: p.unchanged,
      status_changes: p.statusChanges,
      rejected: p.rejected,
      unidentified: p.unidentified,
      retries: p.retries,
      kind: p.kind,
      catch_up_pass: p.catchUpPass,
      ...coverageColumns(p),
    })),
  );
  await db.$executeRaw`
    WITH rejected AS (
      INSERT INTO rejected_records (sync_run_id, page_offset, account_id, raw, raw_truncated, reason)
      SELECT ${runId}::bigint, r.page_offset, r.account_id, coalesce(r.raw, 'null'::jsonb), r.raw_truncated, r.reason
      FROM jsonb_to_recordset(${rejectedJson}::jsonb) AS r(page_offset int, account_id text, raw jsonb, raw_truncated boolean, reason text)
    )
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, inserted, updated, unchanged, status_changes, rejected, unidentified, retries, kind,
                                catch_up_pass, first_key, last_key, head_ties, tail_ties, ends_list, left_out, left_out_key)
    SELECT ${runId}::bigint, p.page_index, p.page_offset, p.item_count, p.total_count, p.first_id, p.last_id,
           p.account_ids::uuid[], p.inserted, p.updated, p.unchanged,
           p.status_changes, p.rejected, p.unidentified, p.retries, p.kind, p.catch_up_pass,
           p.first_key::timestamptz, p.last_key::timestamptz, p.head_ties, p.tail_ties, p.ends_list,
           p.left_out::uuid[], p.left_out_key::timestamptz
    FROM json_to_recordset(${pagesJson}::json) AS p(page_index int, page_offset int, item_count int, total_count int,
         first_id text, last_id text, account_ids text, inserted int, updated int, unchanged int, status_changes int,
         rejected int, unidentified int, retries int, kind text, catch_up_pass int, first_key text, last_key text,
         head_ties int, tail_ties int, ends_list boolean, left_out text, left_out_key text)`;
}

function coverageColumns(page: PageCoverage) {
  return {
    first_key: page.keys?.firstKey ?? null,
    last_key: page.keys?.lastKey ?? null,
    head_ties: page.keys?.headTies ?? 0,
    tail_ties: page.keys?.tailTies ?? 0,
    ends_list: page.endsList,
    left_out: page.leftOut ? uuidArrayLiteral(page.leftOut.ids) : null,
    left_out_key: page.leftOut?.key ?? null,
  };
}

/**
 * Records as seen, all their accounts unchanged, the pages a full run last wrote exactly so at
 * the same position (see sync_page_fingerprints). One statement; the indexes it recorded.
 */
export async function recordPagesIfFingerprinted(db: Db, pages: ReadonlyArray<FingerprintedPage>): Promise<Set<number>> {
  if (pages.length === 0) return new Set();
  const runId = pages[0]!.runId;
  const pagesJson = JSON.stringify(
    pages.map((p) => ({
      page_index: p.index,
      page_offset: p.offset,
      page_limit: p.fingerprint.limit,
      digest: p.fingerprint.digest,
      item_count: p.itemCount,
      total_count: p.totalCount,
      first_id: p.firstId,
      last_id: p.lastId,
      account_ids: p.listed === null ? null : uuidArrayLiteral(p.listed.ids),
      unchanged: p.listed?.distinct ?? null,
      retries: p.retries,
      ends_list: p.endsList,
    })),
  );
  // One statement, its own transaction: the page-writes lock is taken in it (see enterPageWrites).
  // The keys are the fingerprint's: the records are byte for byte those it was taken of.
  const rows = await db.$queryRaw<Array<{ page_index: number }>>`
    WITH fence AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(${pageWritesKey(runId)}))
    INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, first_id, last_id,
                                account_ids, unchanged, retries, first_key, last_key, head_ties, tail_ties, ends_list)
    SELECT ${runId}, p.page_index, p.page_offset, p.item_count, p.total_count, p.first_id, p.last_id,
           coalesce(p.account_ids::uuid[], f.account_ids),
           coalesce(p.unchanged, (SELECT count(DISTINCT id)::int FROM unnest(f.account_ids) AS id)), p.retries,
           f.first_key, f.last_key, f.head_ties, f.tail_ties, p.ends_list
    FROM fence, json_to_recordset(${pagesJson}::json) AS p(page_index int, page_offset int, page_limit int, digest text,
         item_count int, total_count int, first_id text, last_id text, account_ids text, unchanged int, retries int,
         ends_list boolean)
    JOIN sync_page_fingerprints f ON f.page_offset = p.page_offset AND f.page_limit = p.page_limit AND f.fingerprint = p.digest
      -- Keys taken with this very fingerprint: one an earlier release stored or rewrote proves nothing by key.
      AND f.keys_for = f.fingerprint
    RETURNING page_index`;
  return new Set(rows.map((row) => row.page_index));
}

export async function clearPages(db: Db, runId: bigint): Promise<void> {
  await db.$executeRaw`DELETE FROM sync_run_pages WHERE sync_run_id = ${runId}`;
}

/** Page bookkeeping of finished runs is no longer needed by anyone. */
export async function pruneFinishedRunPages(db: Db): Promise<void> {
  await db.$executeRaw`
    DELETE FROM sync_run_pages WHERE sync_run_id IN (SELECT id FROM sync_runs WHERE status IN ('succeeded', 'failed'))`;
}
