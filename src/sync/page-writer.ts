// What the sync does with each page it fetched: record it at once when it is served exactly as
// the last full run wrote it, otherwise validate its records and write it.
import { createHash } from 'node:crypto';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { OpenRun } from '../runs/lifecycle.js';
import { recordPageIfFingerprinted } from '../runs/sql/pages.js';
import { setPageSize, setWatermark } from '../runs/sql/runs.js';
import { isUuid } from '../upvest/schema.js';
import { checkPage } from './page-check.js';
import { writePage } from './store.js';
import type { FetchedPage } from './walk.js';

export interface PageWriterDeps {
  prisma: PrismaClient;
  logger: Logger;
  now: () => Date;
  redact: (text: string) => string;
}

/**
 * Handles each fetched page of `run`; `run.pageSize` and `run.watermark` are kept up to date
 * on it. `fingerprinting`: recognise pages served as the last full run wrote them.
 */
export function createPageWriter(deps: PageWriterDeps, run: OpenRun, fingerprinting: boolean) {
  return async (fetched: FetchedPage): Promise<void> => {
    const page = {
      runId: run.runId,
      pageIndex: fetched.index,
      offset: fetched.offset,
      totalCount: fetched.totalCount,
      itemCount: fetched.count,
      firstId: fetched.firstId,
      lastId: fetched.lastId,
      retries: fetched.page.retries,
    };
    const fingerprint = fingerprinting ? { limit: fetched.limit, digest: recordsDigest(fetched.page) } : undefined;
    // A page holding a record without a usable id was never fingerprinted: no need to look.
    const listedIds = fingerprint ? usableIds(fetched.page.data) : null;
    const recorded =
      fingerprint &&
      listedIds &&
      (await recordPageIfFingerprinted(
        deps.prisma,
        { ...page, index: page.pageIndex, listedIds, unchanged: new Set(listedIds).size },
        fingerprint,
      ));
    if (!recorded) {
      const checked = checkPage(fetched.page.data, deps.redact);
      for (const record of checked.rejected) {
        deps.logger.warn({ offset: fetched.offset, accountId: record.accountId, reason: record.reason }, 'account rejected');
      }
      if (run.mode === 'incremental' && run.watermark === null && checked.accounts[0]) {
        // Newest first: the first account of the first page is the newest update listed.
        run.watermark = checked.accounts[0].updatedAt;
        await setWatermark(deps.prisma, run.runId, run.watermark);
      }
      await writePage(deps.prisma, { ...page, ...checked, observedAt: deps.now(), fingerprint, redact: deps.redact });
    }
    if (fetched.index === 0 && fetched.limit !== run.pageSize) {
      // The server serves fewer per page than asked; a resumed run must walk the same layout.
      run.pageSize = fetched.limit;
      await setPageSize(deps.prisma, run.runId, run.pageSize);
    }
  };
}

/**
 * A digest of a page's records as served. With the usual layout (meta first), the raw bytes
 * from "data": on, which hold the whole data array and nothing of meta's total_count (that
 * changes with every account added anywhere); otherwise the records serialised again. Either
 * way equal digests mean equal records.
 */
export function recordsDigest(page: { body: string; data: unknown[] }): string {
  const hash = createHash('sha256');
  const meta = page.body.indexOf('"meta"');
  const data = page.body.indexOf('"data"');
  if (meta >= 0 && data > meta) hash.update(page.body.slice(data));
  else hash.update(JSON.stringify(page.data));
  return hash.digest('base64');
}

/** The ids of the page's records, or null when one of them has no usable id. */
function usableIds(records: ReadonlyArray<unknown>): string[] | null {
  const ids: string[] = [];
  for (const record of records) {
    const id = record !== null && typeof record === 'object' ? (record as { id?: unknown }).id : undefined;
    if (!isUuid(id)) return null;
    ids.push(id.toLowerCase());
  }
  return ids;
}
