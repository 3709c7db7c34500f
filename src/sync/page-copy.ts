// A batch of pages by COPY (src/mirror/bulk-load.ts), with the pages' bookkeeping in the same
// transaction, as writePages writes it.
import type { Pool } from 'pg';
import { bulkLoad } from '../mirror/bulk-load.js';
import { pageWritesLockCall } from '../runs/sql/pages.js';
import { accountsOfBatch, recordOutcomes, type PageOutcome, type PageWrite } from './store.js';

export type BulkLoadResult = { loaded: true; outcomes: PageOutcome[] } | { loaded: false; sqlState: string };

/**
 * Writes the pages in one transaction by COPY when none of their accounts is stored; otherwise
 * writes nothing and says why (the SQLSTATE), and the caller writes them with writePages.
 * `usersApart`: see bulkLoad.
 */
export async function bulkLoadPages(pool: Pool, pages: PageWrite[], options: { usersApart?: boolean } = {}): Promise<BulkLoadResult> {
  const runId = pages[0]!.runId;
  return bulkLoad(pool, {
    runId,
    observedAt: pages[0]!.observedAt,
    accounts: accountsOfBatch(pages),
    lockCall: pageWritesLockCall(runId),
    bookkeeping: (db, written) => recordOutcomes(db, pages, written, new Map()),
    usersApart: options.usersApart,
  });
}
