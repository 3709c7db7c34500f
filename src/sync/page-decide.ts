// Each record's fate on a page of the batch: validated (checkPage), kept aside with its reason or
// stored, less the accounts the previous page writes; the page's write as writePages takes it.
import type { Logger } from '../logger.js';
import type { OpenRun } from '../runs/lifecycle.js';
import type { PageKind } from '../runs/sql/pages.js';
import type { AccountRecord, ExtraLimits } from '../upvest/schema.js';
import { bookkeeping, fingerprintOf, type Queued } from './batch-plan.js';
import { checkPage, type SortedBy } from './page-check.js';
import type { PageWrite } from './store.js';

/**
 * The page's write: its accounts less those `left` to the previous page, its rejected records
 * (logged), and `newest`, the first account's update (a newest-first walk's watermark).
 */
export function decidePage(
  deps: { logger: Logger; now: () => Date; redact: (text: string) => string },
  run: OpenRun,
  { page, kind, pass }: Queued,
  left: ReadonlySet<string> | undefined,
  options: { fingerprinting: boolean; extraLimits?: ExtraLimits },
): { write: PageWrite; newest: string | undefined } {
  const sortedBy = sortedByOf(run, kind);
  const checked = checkPage(page.page.data, deps.redact, sortedBy, options.extraLimits);
  for (const record of checked.rejected) {
    deps.logger.warn({ offset: page.offset, accountId: record.accountId, reason: record.reason }, 'account rejected');
  }
  const accounts = left ? checked.accounts.filter((a) => !left.has(a.id)) : checked.accounts;
  // (the accounts come in page order: the last left out has the largest key in the walk's order)
  const leftOut = left && sortedBy ? leftOutOf(checked.accounts, left, sortedBy.field) : undefined;
  const write: PageWrite = {
    ...bookkeeping(run, page),
    pageIndex: page.index,
    itemCount: page.count,
    ...checked,
    accounts,
    observedAt: deps.now(),
    fingerprint: options.fingerprinting && kind === 'walk' ? fingerprintOf(page) : undefined,
    redact: deps.redact,
    kind,
    catchUpPass: pass,
    leftOut,
  };
  return { write, newest: checked.accounts[0]?.updatedAt };
}

/**
 * The accounts the page leaves to the previous page's batch, and the key of the last of them: a
 * page proves only what lies above that key until the previous page is committed listing them
 * (see coveragePages), since a process killed between the two commits leaves them to nobody.
 */
function leftOutOf(accounts: ReadonlyArray<AccountRecord>, left: ReadonlySet<string>, field: 'createdAt' | 'updatedAt'): PageWrite['leftOut'] {
  const ids: string[] = [];
  let key: string | undefined;
  for (const account of accounts) {
    if (!left.has(account.id)) continue;
    ids.push(account.id);
    key = account[field];
  }
  return key === undefined ? undefined : { ids, key };
}

/** The key a page of this kind is sorted by: a full run's walk oldest first, every other walk newest first. */
function sortedByOf(run: OpenRun, kind: PageKind): SortedBy | undefined {
  if (kind === 'lookup') return undefined;
  return run.mode === 'full' && kind !== 'catch_up' ? { field: 'createdAt', ascending: true } : { field: 'updatedAt', ascending: false };
}
