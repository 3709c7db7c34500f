// The dataset's version history (DatasetOptions.history): every version of an account it served,
// kept from the first change on, the version served before that change included.
import type { AccountVersion } from './dataset-types.js';
import type { SimAccount } from './render.js';

/** What the history reads of the dataset, by account index. */
export interface VersionSource {
  /** The instant the account was first served (its created_at). */
  initialAtUs(index: number): number;
  /** The account as served now, listed or not. */
  account(index: number): SimAccount;
  isRemoved(index: number): boolean;
}

export class VersionHistory {
  /** By index: every version since the first change (the one before it included). */
  private readonly versions = new Map<number, AccountVersion[]>();

  constructor(private readonly source: VersionSource) {}

  /** Every version of the account, oldest first; one from its creation when it never changed. */
  of(index: number): AccountVersion[] {
    return this.versions.get(index) ?? [{ atUs: this.source.initialAtUs(index), account: this.source.account(index) }];
  }

  /** Keeps the version served now, from atUs; 'before': the one served before a first change. */
  keep(index: number, atUs: number | 'before'): void {
    const kept = this.versions.get(index);
    if (atUs === 'before') {
      if (!kept) this.versions.set(index, [{ atUs: this.source.initialAtUs(index), account: this.served(index) }]);
      return;
    }
    const version = { atUs, account: this.served(index) };
    if (kept) kept.push(version);
    else this.versions.set(index, [version]);
  }

  private served(index: number): SimAccount | null {
    return this.source.isRemoved(index) ? null : this.source.account(index);
  }
}
