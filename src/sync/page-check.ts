// One page's records sorted into accounts to store and records to keep aside. The real run and
// the dry run both decide every record here, so they count the same.
import { checkAccount, DEFAULT_EXTRA_LIMITS, type AccountRecord, type ExtraLimits } from '../upvest/schema.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import type { KeptAside } from './store.js';
import { pageKeysOf, type PageKeys } from './page-keys.js';

export interface CheckedPage {
  accounts: AccountRecord[];
  rejected: KeptAside[];
  /** Every id the page listed: valid accounts and rejected records with a usable id. */
  listedIds: string[];
  /** Records kept aside without a usable id. */
  unidentified: number;
  /** The page's sort keys (see page-keys.ts), when asked for by `sortedBy`. */
  keys: PageKeys | null;
}

/** The key a page is sorted by: created_at oldest first, or updated_at newest first. */
export type SortedBy = { field: 'createdAt' | 'updatedAt'; ascending: boolean };

const asIs = (text: string) => text;

/** `redact` scrubs secrets (an echoed token, say) from what is kept of a rejected record. */
export function checkPage(
  records: ReadonlyArray<unknown>,
  redact: (text: string) => string = asIs,
  sortedBy?: SortedBy,
  limits: ExtraLimits = DEFAULT_EXTRA_LIMITS,
): CheckedPage {
  const checked: CheckedPage = { accounts: [], rejected: [], listedIds: [], unidentified: 0, keys: null };
  const keyed: Array<{ position: number; key: string }> = [];
  for (let position = 0; position < records.length; position++) {
    const raw = records[position];
    const result = checkAccount(raw, limits);
    if (result.ok) {
      checked.accounts.push(result.account);
      checked.listedIds.push(result.account.id);
      if (sortedBy) keyed.push({ position, key: result.account[sortedBy.field] });
      continue;
    }
    const { accountId, reason } = result.rejected;
    const kept = keptAsideJson(raw);
    checked.rejected.push({ accountId, rawJson: redact(kept.json), rawTruncated: kept.truncated, reason: redact(reason) });
    if (accountId === null) checked.unidentified += 1;
    else checked.listedIds.push(accountId);
  }
  if (sortedBy) checked.keys = pageKeysOf(keyed, records.length, sortedBy.ascending);
  return checked;
}
