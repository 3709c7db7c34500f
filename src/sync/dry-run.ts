// A walk that fetches and validates every page and writes nothing: checks credentials and
// signing end to end, and tells how long fetching alone takes (the benchmark's baseline).
// Each record is decided exactly as a real run decides it (page-check.ts).
import type { UpvestClient } from '../upvest/client.js';
import { checkAccount } from '../upvest/schema.js';
import { checkPage } from './page-check.js';
import { expectedRepeats, matchedOverlaps, type PageMeta } from '../runs/assessment.js';
import { walkPages } from './walk.js';

export interface DryRunSummary {
  pages: number;
  /** Accounts listed, each counted once (consecutive pages overlap by one), rejected ones with a usable id included. */
  accountsSeen: number;
  /** Valid accounts, each counted once. */
  accounts: number;
  rejected: number;
  /** Rejected records without a usable id. */
  unidentified: number;
  retries: number;
  durationMs: number;
}

export async function dryRun(
  client: UpvestClient,
  options: { pageSize: number; concurrency: number; maxPages: number; signal?: AbortSignal },
  now: () => number = Date.now,
): Promise<DryRunSummary> {
  const started = now();
  const summary: DryRunSummary = { pages: 0, accountsSeen: 0, accounts: 0, rejected: 0, unidentified: 0, retries: 0, durationMs: 0 };
  const metas: PageMeta[] = [];
  const firstIsValid = new Map<number, boolean>();
  await walkPages(
    client,
    { limit: options.pageSize, concurrency: options.concurrency, maxPages: options.maxPages, signal: options.signal },
    async (fetched) => {
      const { page: _records, ...meta } = fetched;
      metas.push(meta);
      summary.pages += 1;
      summary.retries += fetched.page.retries;
      const checked = checkPage(fetched.page.data);
      firstIsValid.set(fetched.index, fetched.count > 0 && checkAccount(fetched.page.data[0]).ok);
      summary.accountsSeen += checked.listedIds.length;
      summary.accounts += checked.accounts.length;
      summary.rejected += checked.rejected.length;
      summary.unidentified += checked.unidentified;
    },
  );
  // Each matched overlap lists its record twice: a valid account, or a rejected one with an id
  // (a record without one cannot be matched, so it is never an overlap).
  summary.accountsSeen -= expectedRepeats(metas);
  summary.accounts -= matchedOverlaps(metas).filter((index) => firstIsValid.get(index)).length;
  summary.durationMs = now() - started;
  return summary;
}
