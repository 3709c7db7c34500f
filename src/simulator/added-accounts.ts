// Accounts tests add to the dataset: created now, a quarter joining the group of the account
// added just before (up to four), a fifth owned by the owner of an existing group.
import type { AccountFields, BaseAccounts } from './base-accounts.js';
import { hash32 } from './hash.js';
import { accountName } from './names.js';

const D_ADDED = 50;

export class AddedAccounts {
  /** By index minus the base's count. */
  readonly fields: AccountFields[] = [];
  private groups = 0;
  private lastGroupSize = 0;

  constructor(
    private readonly seed: number,
    private readonly base: BaseAccounts,
  ) {}

  get length(): number {
    return this.fields.length;
  }

  /** Adds the next account, created at createdUs; returns its index. */
  push(createdUs: number): number {
    const { seed, base } = this;
    const index = base.count + this.fields.length;
    const h = hash32(seed, D_ADDED, index);
    const previous = this.fields[this.fields.length - 1];
    const joinGroup = previous !== undefined && h % 100 < 25 && this.lastGroupSize < 4;
    if (!joinGroup) {
      this.groups++;
      this.lastGroupSize = 0;
    }
    this.lastGroupSize++;
    const ownerKey = (h >>> 8) % 100 < 20 && base.groupCount > 0
      ? base.groupOwner(hash32(seed, D_ADDED + 1, index) % base.groupCount)
      : base.groupCount + index;
    this.fields.push({
      id: base.accountId(index),
      createdUs,
      updatedUs: createdUs,
      groupId: joinGroup ? previous.groupId : base.groupId(base.groupCount + this.groups),
      type: (h >>> 16) % 100 < 85 ? 'TRADING' : 'PORTFOLIO',
      users: joinGroup ? previous.users : [{ id: base.userId(ownerKey), type: 'OWNER' }],
      name: accountName(hash32(seed, D_ADDED + 2, index), hash32(seed, D_ADDED + 3, index)),
      status: 'PENDING_APPROVAL',
      accountNumber: this.lastGroupSize,
    });
    return index;
  }
}
