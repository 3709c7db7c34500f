// The base dataset: accounts derived on demand from (seed, index), so a million of them cost a
// few typed arrays rather than a million objects. Nothing here changes after construction.
import { formatUuid, hash32, permute48, unpermute48, uuidNode } from './hash.js';
import { accountName } from './names.js';

/** Hash domains: one per derived field, so fields vary independently. */
const D = {
  account: 1,
  accountBits: 2,
  group: 3,
  groupSize: 4,
  groupUser: 5,
  user: 6,
  times: 7,
  times2: 8,
  name: 9,
  name2: 10,
  status: 11,
  batch: 12,
} as const;

const EPOCH_US = Date.UTC(2020, 0, 1) * 1000;
const SPAN_S = 4 * 365 * 86_400;

export interface UserRef {
  id: string;
  type: string;
  /** Fields a newer API version adds to the user, served beside id and type. */
  extra?: Readonly<Record<string, unknown>>;
}

/** The immutable facts of one account; `updatedUs` and friends may be overridden later. */
export interface AccountFields {
  id: string;
  createdUs: number;
  updatedUs: number;
  groupId: string;
  type: string;
  users: readonly UserRef[];
  /** `users` rendered, when known to be current: base owners repeat across a group. */
  usersJson?: string;
  name: string;
  status: string;
  accountNumber: number;
  /** Fields a newer API version adds to the account, served beside the others. */
  extra?: Readonly<Record<string, unknown>>;
}

export class BaseAccounts {
  readonly count: number;
  readonly seed: number;
  readonly groupCount: number;
  /** Seconds between consecutive base accounts; even, so half of it is whole seconds. */
  private readonly spacingUs: number;
  private readonly groupOf: Uint32Array;
  private readonly numberInGroup: Uint8Array;
  private lastGroup = -1;
  private lastGroupId = '';
  private lastOwnerId = '';
  private lastOwnerJson = '';

  /** With bulk creation: the first account of each one's creation batch (they share its created_at). */
  private readonly batchStart: Uint32Array | undefined;

  constructor(seed: number, count: number, options: { bulkCreated?: boolean } = {}) {
    this.seed = seed >>> 0;
    this.count = count;
    this.batchStart = options.bulkCreated ? creationBatches(this.seed, count) : undefined;
    const spacingSeconds = 2 * Math.max(2, Math.min(1800, Math.floor(SPAN_S / Math.max(1, count) / 2)));
    this.spacingUs = spacingSeconds * 1_000_000;
    this.groupOf = new Uint32Array(count);
    this.numberInGroup = new Uint8Array(count);
    let group = 0;
    let index = 0;
    while (index < count) {
      const r = hash32(this.seed, D.groupSize, group) % 100;
      const size = r < 55 ? 1 : r < 80 ? 2 : r < 92 ? 3 : 4;
      for (let n = 1; n <= size && index < count; n++, index++) {
        this.groupOf[index] = group;
        this.numberInGroup[index] = n;
      }
      group++;
    }
    this.groupCount = group;
  }

  /** Newest updated_at of any base account: every change must be later than this. */
  get maxUpdatedUs(): number {
    return this.count === 0 ? EPOCH_US : this.updatedUs(this.count - 1);
  }

  accountId(index: number): string {
    const s = this.seed;
    return formatUuid(hash32(s, D.account, index), hash32(s, D.accountBits, index), hash32(s, D.accountBits + 100, index), permute48(s, index));
  }

  /** The index encoded in an account id (base or added), or undefined when it is not ours. */
  indexOfId(id: string): number | undefined {
    const node = uuidNode(id);
    if (node === undefined) return undefined;
    const index = unpermute48(this.seed, node);
    return this.accountId(index) === id ? index : undefined;
  }

  groupId(group: number): string {
    return randomLookingUuid(this.seed, D.group, group);
  }

  userId(user: number): string {
    return randomLookingUuid(this.seed, D.user, user);
  }

  /** The owner of a group: usually its own user, sometimes one who already owns another group. */
  groupOwner(group: number): number {
    const h = hash32(this.seed, D.groupUser, group);
    if (group > 0 && h % 100 < 8) return group - 1 - ((h >>> 8) % Math.min(group, 500));
    return group;
  }

  /** Accounts created in bulk share their batch's first created_at (see creationBatches). */
  createdUs(index: number): number {
    return this.ownCreatedUs(this.batchStart ? this.batchStart[index]! : index);
  }

  private ownCreatedUs(index: number): number {
    const slot = EPOCH_US + index * this.spacingUs;
    const h = hash32(this.seed, D.times, index);
    const created = slot + (h % (this.spacingUs / 2));
    return roundTo(created, h >>> 24);
  }

  /**
   * Strictly increasing in index and within the first half of the account's slot, so the
   * updated_at order of unchanged base accounts is their index order. Taken from the account's
   * own slot also when it was created in bulk: every later account of a batch lies in a later
   * slot than the batch's created_at, so it is never older than that.
   */
  updatedUs(index: number, created = this.ownCreatedUs(index)): number {
    const h = hash32(this.seed, D.times2, index);
    if (h % 10 < 4) return created;
    const slotHalfEnd = EPOCH_US + index * this.spacingUs + this.spacingUs / 2;
    const updated = created + ((h >>> 4) % (slotHalfEnd - created));
    return Math.max(created, roundTo(updated, h >>> 24));
  }

  fields(index: number): AccountFields {
    const s = this.seed;
    const group = this.groupOf[index]!;
    if (group !== this.lastGroup) {
      // Pages walk consecutive indices, and a group's accounts are consecutive.
      this.lastGroup = group;
      this.lastGroupId = this.groupId(group);
      this.lastOwnerId = this.userId(this.groupOwner(group));
      this.lastOwnerJson = `[{"id":"${this.lastOwnerId}","type":"OWNER"}]`;
    }
    const owner: UserRef = { id: this.lastOwnerId, type: 'OWNER' };
    const hs = hash32(s, D.status, index);
    const joint = hs % 100 < 6;
    const createdUs = this.createdUs(index);
    const updatedUs = this.updatedUs(index);
    const users = joint ? [owner, { id: this.userId(this.groupCount + index), type: 'OWNER' }] : [owner];
    return {
      id: this.accountId(index),
      createdUs,
      updatedUs,
      groupId: this.lastGroupId,
      type: (hs >>> 8) % 100 < 85 ? 'TRADING' : 'PORTFOLIO',
      users,
      usersJson: joint ? undefined : this.lastOwnerJson,
      name: accountName(hash32(s, D.name, index), hash32(s, D.name2, index)),
      status: baseStatus((hs >>> 16) % 100),
      accountNumber: this.numberInGroup[index]!,
    };
  }
}

/**
 * Creation batches of consecutive accounts, as a tenant creating accounts in bulk makes them: a
 * fifth alone, the rest in batches of 3 to 8 that share one created_at instant.
 */
function creationBatches(seed: number, count: number): Uint32Array {
  const start = new Uint32Array(count);
  let batch = 0;
  for (let index = 0; index < count; batch++) {
    const r = hash32(seed, D.batch, batch);
    const size = r % 100 < 20 ? 1 : 3 + ((r >>> 8) % 6);
    const first = index;
    for (let n = 0; n < size && index < count; n++, index++) start[index] = first;
  }
  return start;
}

function randomLookingUuid(seed: number, domain: number, n: number): string {
  const node = hash32(seed, domain + 300, n) * 0x1_0000 + (hash32(seed, domain + 400, n) & 0xffff);
  return formatUuid(hash32(seed, domain, n), hash32(seed, domain + 100, n), hash32(seed, domain + 200, n), node);
}

function baseStatus(r: number): string {
  if (r < 84) return 'ACTIVE';
  if (r < 90) return 'PENDING_APPROVAL';
  if (r < 94) return 'CLOSING';
  if (r < 98) return 'CLOSED';
  return 'LOCKED';
}

/** Mixes precisions: about 20% whole seconds, 10% milliseconds, the rest microseconds. */
function roundTo(us: number, r: number): number {
  const p = r % 10;
  if (p < 2) return us - (us % 1_000_000);
  if (p < 3) return us - (us % 1000);
  return us;
}
