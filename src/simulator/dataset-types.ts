// The simulator's data set: its options and what it tells of the changes it makes.
import type { UserRef } from './base-accounts.js';
import type { SimAccount } from './render.js';

export type SortField = 'created_at' | 'updated_at';

/** A change the dataset made, for listeners such as the webhook sender. */
export interface DatasetChange {
  kind: 'status' | 'rename' | 'users' | 'extra' | 'added' | 'removed' | 'restored';
  /** The account after the change. */
  account: SimAccount;
  /** Its status before, for status changes. */
  fromStatus?: string;
}
export type SortOrder = 'ASC' | 'DESC';

export interface DatasetOptions {
  accounts?: number;
  seed?: number;
  /** Clock in milliseconds; changes are stamped with it. */
  now?: () => number;
  /** Accounts created in bulk: batches of a few share one created_at (see base-accounts.ts). */
  bulkCreated?: boolean;
  /**
   * Shaped like a real tenant's accounts (see base-accounts.ts): a fifth held jointly, owners of
   * several groups, about 1.2 links and 0.88 users per account, 22% of users in more than one group. Default: the original shape.
   */
  tenant?: boolean;
  /** Keep every version of every account (see history()): for tests, a few thousand accounts. */
  history?: boolean;
}

/** Fields a newer API version adds to every account and every user, served without a new version. */
export interface UnknownFields {
  account?: Readonly<Record<string, unknown>>;
  user?: Readonly<Record<string, unknown>>;
}

/** One version of an account as served from `atUs` (microseconds since the epoch) on; null: not listed. */
export interface AccountVersion {
  atUs: number;
  account: SimAccount | null;
}

export interface Override {
  status?: string;
  name?: string;
  users?: readonly UserRef[];
  extra?: Readonly<Record<string, unknown>>;
  updatedUs: number;
}
