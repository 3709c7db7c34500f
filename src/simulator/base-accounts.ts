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
  joint: 13,
  coOwner: 14,
} as const;

/** Tenant shape, in percent: groups owned by an earlier group's owner, joint accounts, joint with someone new. */
const TENANT_REUSED_OWNERS = 23;
const TENANT_JOINT = 20;
const TENANT_NEW_CO_OWNERS = 65;
/** How far back (in groups) a shared owner comes from. */
const TENANT_REUSE_WINDOW = 5000;

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
  /** Shaped like a real tenant's accounts (see tenantOwner, coOwner): joint accounts, owners of several groups. */
  readonly tenant: boolean;

  constructor(seed: number, count: number, options: { bulkCreated?: boolean; tenant?: boolean } = {}) {
    this.seed = seed >>> 0;
    this.count = count;
    this.tenant = options.tenant === true;
    this.batchStart = options.bulkCreated ? creationBatches(this.seed, count) : undefined;
    const spacingSeconds = 2 * Math.max(2, Math.min(1800, Math.floor(SPAN_S / Math.max(1, count) / 2)));
    this.spacingUs = spacingSeconds * 1_000_000;
    this.groupOf = new Uint32Array(count);
    this.numberInGroup = new Uint8Array(count);
    let group = 0;
    let index = 0;
    while (index < count) {
      const size = this.tenant ? tenantGroupSize(hash32(this.seed, D.groupSize, group) % 1000) : groupSize(hash32(this.seed, D.groupSize, group) % 100);
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
    if (this.tenant) return this.tenantOwner(group);
    const h = hash32(this.seed, D.groupUser, group);
    if (group > 0 && h % 100 < 8) return group - 1 - ((h >>> 8) % Math.min(group, 500));
    return group;
  }

  /**
   * A tenant's group owner: about 23% of groups belong to someone who owns an earlier group (an
   * investor opening a second portfolio), taken from the last few thousand groups, so that
   * writers loading neighbouring pages at once share them. Followed back to a group of its own.
   */
  private tenantOwner(group: number): number {
    let g = group;
    for (;;) {
      const h = hash32(this.seed, D.groupUser, g);
      if (g === 0 || h % 100 >= TENANT_REUSED_OWNERS) return g;
      g = g - 1 - ((h >>> 8) % Math.min(g, TENANT_REUSE_WINDOW));
    }
  }

  /**
   * The owners of an account besides its group's. Old shape: 6% of accounts have a second owner
   * of their own. Tenant shape: 20% are joint; of those, about two thirds share with someone new and
   * a third with someone who owns another group (a partner with accounts of their own).
   */
  private coOwner(index: number, hs: number, group: number): number | undefined {
    if (!this.tenant) return hs % 100 < 6 ? this.groupCount + index : undefined;
    const h = hash32(this.seed, D.joint, index);
    if (h % 100 >= TENANT_JOINT) return undefined;
    if ((h >>> 8) % 100 < TENANT_NEW_CO_OWNERS || group === 0) return this.groupCount + index;
    const other = group - 1 - (hash32(this.seed, D.coOwner, index) % Math.min(group, TENANT_REUSE_WINDOW));
    const owner = this.tenantOwner(other);
    return owner === this.tenantOwner(group) ? this.groupCount + index : owner;
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
    const second = this.coOwner(index, hs, group);
    const joint = second !== undefined;
    const createdUs = this.createdUs(index);
    const updatedUs = this.updatedUs(index);
    const users = joint ? [owner, { id: this.userId(second), type: 'OWNER' }] : [owner];
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

function groupSize(r: number): number {
  return r < 55 ? 1 : r < 80 ? 2 : r < 92 ? 3 : 4;
}

/** A tenant's groups: about 98% hold one account. */
function tenantGroupSize(r: number): number {
  return r < 980 ? 1 : r < 995 ? 2 : 3;
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
