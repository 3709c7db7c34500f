// A walk that fetches and validates every page and writes nothing: checks credentials and
// signing end to end, and tells how long fetching alone takes (the benchmark's baseline).
import type { UpvestClient } from '../upvest/client.js';
import { checkAccount } from '../upvest/schema.js';
import { expectedRepeats, walkPages, type PageMeta } from './walk.js';

export interface DryRunSummary {
  pages: number;
  /** Valid accounts, each counted once (consecutive pages overlap by one). */
  accounts: number;
  rejected: number;
  retries: number;
  durationMs: number;
}

export async function dryRun(
  client: UpvestClient,
  options: { pageSize: number; concurrency: number; signal?: AbortSignal },
  now: () => number = Date.now,
): Promise<DryRunSummary> {
  const started = now();
  const summary: DryRunSummary = { pages: 0, accounts: 0, rejected: 0, retries: 0, durationMs: 0 };
  const metas: PageMeta[] = [];
  await walkPages(client, { limit: options.pageSize, concurrency: options.concurrency, signal: options.signal }, async (fetched) => {
    const { page: _records, ...meta } = fetched;
    metas.push(meta);
    summary.pages += 1;
    summary.retries += fetched.page.retries;
    for (const raw of fetched.page.data) {
      if (checkAccount(raw).ok) summary.accounts += 1;
      else summary.rejected += 1;
    }
  });
  summary.accounts -= expectedRepeats(metas);
  summary.durationMs = now() - started;
  return summary;
}
