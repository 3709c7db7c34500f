// A walk that fetches and validates every page and writes nothing: checks credentials and
// signing end to end, and tells how long fetching alone takes (the benchmark's baseline).
// Each record is decided exactly as a real run decides it (page-check.ts).
import type { UpvestClient } from '../upvest/client.js';
import { checkAccount } from '../upvest/schema.js';
import { checkPage } from './page-check.js';
import { usableIdOf } from '../upvest/schema.js';
import { overlapFor, walkPages } from './walk.js';

export interface DryRunSummary {
  pages: number;
  /** Accounts listed, each counted once (consecutive pages overlap), rejected ones with a usable id included. */
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
  options: { pageSize: number; pageOverlap: number; concurrency: number; maxPages: number; signal?: AbortSignal },
  now: () => number = Date.now,
): Promise<DryRunSummary> {
  const started = now();
  const summary: DryRunSummary = { pages: 0, accountsSeen: 0, accounts: 0, rejected: 0, unidentified: 0, retries: 0, durationMs: 0 };
  /** The ids each page begins and ends with (true: a valid account), to count what consecutive pages share once. */
  const edges = new Map<number, { head: Map<string, boolean>; tail: Map<string, boolean> }>();
  await walkPages(
    client,
    { limit: options.pageSize, overlap: options.pageOverlap, concurrency: options.concurrency, maxPages: options.maxPages, signal: options.signal },
    async (fetched) => {
      summary.pages += 1;
      summary.retries += fetched.page.retries;
      const records = fetched.page.data;
      const checked = checkPage(records);
      const n = overlapFor(fetched.limit, options.pageOverlap);
      edges.set(fetched.index, { head: idsOf(records.slice(0, n)), tail: idsOf(records.slice(Math.max(0, records.length - n))) });
      summary.accountsSeen += checked.listedIds.length;
      summary.accounts += checked.accounts.length;
      summary.rejected += checked.rejected.length;
      summary.unidentified += checked.unidentified;
    },
  );
  // What consecutive pages both list was counted twice: a valid account, or a rejected one with an id.
  for (const [index, { head }] of edges) {
    const previous = edges.get(index - 1)?.tail;
    if (!previous) continue;
    for (const [id, valid] of head) {
      if (!previous.has(id)) continue;
      summary.accountsSeen -= 1;
      if (valid) summary.accounts -= 1;
    }
  }
  summary.durationMs = now() - started;
  return summary;
}

/** The usable ids among these records, and whether each is a valid account. */
function idsOf(records: ReadonlyArray<unknown>): Map<string, boolean> {
  const ids = new Map<string, boolean>();
  for (const record of records) {
    const id = usableIdOf(record);
    if (id !== null) ids.set(id, checkAccount(record).ok);
  }
  return ids;
}
