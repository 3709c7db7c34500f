// One page's records sorted into accounts to store and records to keep aside. The real run and
// the dry run both decide every record here, so they count the same.
import { checkAccount, type AccountRecord } from '../upvest/schema.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import type { KeptAside } from './store.js';

export interface CheckedPage {
  accounts: AccountRecord[];
  rejected: KeptAside[];
  /** Every id the page listed: valid accounts and rejected records with a usable id. */
  listedIds: string[];
  /** Records kept aside without a usable id. */
  unidentified: number;
}

const asIs = (text: string) => text;

/** `redact` scrubs secrets (an echoed token, say) from what is kept of a rejected record. */
export function checkPage(records: ReadonlyArray<unknown>, redact: (text: string) => string = asIs): CheckedPage {
  const checked: CheckedPage = { accounts: [], rejected: [], listedIds: [], unidentified: 0 };
  for (const raw of records) {
    const result = checkAccount(raw);
    if (result.ok) {
      checked.accounts.push(result.account);
      checked.listedIds.push(result.account.id);
      continue;
    }
    const { accountId, reason } = result.rejected;
    const kept = keptAsideJson(raw);
    checked.rejected.push({ accountId, rawJson: redact(kept.json), rawTruncated: kept.truncated, reason: redact(reason) });
    if (accountId === null) checked.unidentified += 1;
    else checked.listedIds.push(accountId);
  }
  return checked;
}
