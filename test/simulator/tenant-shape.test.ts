import { describe, expect, it } from 'vitest';
import { Dataset, type SimAccount } from '../../src/simulator/index.js';

/** The shape figures the bench prints, counted the slow obvious way. */
function shapeOf(accounts: SimAccount[]) {
  const groupsOfUser = new Map<string, Set<string>>();
  let links = 0;
  let joint = 0;
  for (const account of accounts) {
    links += account.users.length;
    if (account.users.length > 1) joint++;
    for (const user of account.users) {
      const groups = groupsOfUser.get(user.id) ?? new Set<string>();
      groups.add(account.account_group_id);
      groupsOfUser.set(user.id, groups);
    }
  }
  const inSeveralGroups = [...groupsOfUser.values()].filter((groups) => groups.size > 1).length;
  return { accounts: accounts.length, users: groupsOfUser.size, links, joint, inSeveralGroups };
}

describe('Dataset: tenant-shaped accounts', () => {
  it('holds a fifth of the accounts jointly, and a fifth of the users own accounts in several groups', () => {
    const shape = shapeOf(new Dataset({ accounts: 20_000, seed: 1, tenant: true }).list());
    expect(shape).toEqual({ accounts: 20_000, users: 17_685, links: 24_057, joint: 4_057, inSeveralGroups: 3_784 });
    // 1.2 links and 0.88 users per account: 4.09 rows per account with its status change.
    expect((2 * shape.accounts + shape.users + shape.links) / shape.accounts).toBeCloseTo(4.09, 2);
  });

  it('shares owners between accounts far enough apart to be loaded by different writers', () => {
    const accounts = new Dataset({ accounts: 20_000, seed: 1, tenant: true }).list();
    const firstSeen = new Map<string, number>();
    let sharedAcrossPages = 0;
    accounts.forEach((account, index) => {
      for (const user of account.users) {
        const first = firstSeen.get(user.id);
        if (first === undefined) firstSeen.set(user.id, index);
        else if (Math.floor(first / 1000) !== Math.floor(index / 1000)) sharedAcrossPages++;
      }
    });
    expect(sharedAcrossPages).toBe(5_155);
  });

  it('leaves the original shape the default', () => {
    const shape = shapeOf(new Dataset({ accounts: 20_000, seed: 1 }).list());
    expect(shape).toEqual({ accounts: 20_000, users: 12_005, links: 21_177, joint: 1_177, inSeveralGroups: 809 });
  });
});
