import { describe, expect, it } from 'vitest';
import { Dataset, type SimAccount } from '../../src/simulator/index.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const FIXED_NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

/** Microseconds since the epoch of one of the dataset's timestamps. */
function micros(timestamp: string): number {
  const [whole, fraction = ''] = timestamp.slice(0, -1).split('.');
  return Date.parse(`${whole}Z`) * 1000 + Number(fraction.padEnd(6, '0'));
}

/** The updated_at order, computed the slow obvious way. */
function byUpdated(accounts: SimAccount[]): string[] {
  return [...accounts]
    .sort((a, b) => micros(a.updated_at) - micros(b.updated_at) || (a.id < b.id ? -1 : 1))
    .map((a) => a.id);
}

describe('Dataset: the base accounts', () => {
  const dataset = new Dataset({ accounts: 3000, seed: 1 });
  const accounts = dataset.list();

  it('is deterministic per seed, and the seed matters', () => {
    expect(new Dataset({ accounts: 3000, seed: 1 }).list()).toEqual(accounts);
    expect(new Dataset({ accounts: 3000, seed: 2 }).list()[0]!.id).not.toBe(accounts[0]!.id);
    expect(accounts[0]).toEqual({
      id: 'c789156e-afd8-4387-8a4e-6b4cd1ddb9b6',
      created_at: '2020-01-01T00:06:32.882184Z',
      updated_at: '2020-01-01T00:09:56.519493Z',
      account_group_id: '73f62b37-22f3-4d83-8402-39dc79b22b03',
      type: 'PORTFOLIO',
      users: [{ id: '57831d39-92f4-48b8-9e2b-60989878b34a', type: 'OWNER' }],
      name: 'Chloé Dubois – Notgroschen',
      status: 'ACTIVE',
      account_number: 1,
    });
  });

  it('serves accounts with exactly the reference fields, valid ids and RFC 3339 UTC times', () => {
    expect(accounts).toHaveLength(3000);
    for (const a of accounts) {
      expect(Object.keys(a)).toEqual(['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number']);
      expect(a.id).toMatch(UUID_V4);
      expect(a.account_group_id).toMatch(UUID_V4);
      for (const u of a.users) expect(u).toEqual({ id: expect.stringMatching(UUID_V4), type: 'OWNER' });
      expect(a.created_at).toMatch(RFC3339_UTC);
      expect(a.updated_at).toMatch(RFC3339_UTC);
      expect(micros(a.updated_at)).toBeGreaterThanOrEqual(micros(a.created_at));
      expect([...a.name].length).toBeLessThanOrEqual(100);
      expect(a.name.length).toBeLessThanOrEqual(100);
    }
    expect(new Set(accounts.map((a) => a.id)).size).toBe(3000);
  });

  it('lists in strictly increasing created_at, with base updated_at increasing too', () => {
    for (let i = 1; i < accounts.length; i++) {
      expect(micros(accounts[i]!.created_at)).toBeGreaterThan(micros(accounts[i - 1]!.created_at));
      expect(micros(accounts[i]!.updated_at)).toBeGreaterThan(micros(accounts[i - 1]!.updated_at));
    }
  });

  it('mixes timestamp precisions, microseconds included', () => {
    const created = accounts.map((a) => a.created_at);
    expect(created.filter((t) => /\.\d{6}Z$/.test(t)).length).toBeGreaterThan(1500);
    expect(created.filter((t) => /:\d{2}Z$/.test(t)).length).toBeGreaterThan(300);
    expect(created.some((t) => /\.\d{1,5}Z$/.test(t))).toBe(true);
  });

  it('groups 1 to 4 consecutive accounts with serial account numbers', () => {
    const groups = new Map<string, number[]>();
    for (const a of accounts) groups.set(a.account_group_id, [...(groups.get(a.account_group_id) ?? []), a.account_number]);
    const sizes = new Set<number>();
    for (const numbers of groups.values()) {
      expect(numbers).toEqual(numbers.map((_, i) => i + 1));
      sizes.add(numbers.length);
    }
    expect([...sizes].sort()).toEqual([1, 2, 3, 4]);
  });

  it('has shared owners, joint accounts, both types and every status', () => {
    const groupsOfUser = new Map<string, Set<string>>();
    for (const a of accounts) {
      for (const u of a.users) groupsOfUser.set(u.id, (groupsOfUser.get(u.id) ?? new Set()).add(a.account_group_id));
    }
    expect([...groupsOfUser.values()].some((groups) => groups.size > 1)).toBe(true);
    expect(accounts.some((a) => a.users.length === 2)).toBe(true);
    expect(new Set(accounts.map((a) => a.type))).toEqual(new Set(['TRADING', 'PORTFOLIO']));
    const statuses = accounts.map((a) => a.status);
    expect(new Set(statuses)).toEqual(new Set(['ACTIVE', 'PENDING_APPROVAL', 'CLOSING', 'CLOSED', 'LOCKED']));
    expect(statuses.filter((s) => s === 'ACTIVE').length).toBeGreaterThan(2000);
  });

  it('has names that test a client: non-ASCII, CJK, emoji, quotes, backslashes, 100 characters', () => {
    const names = accounts.map((a) => a.name);
    expect(names.some((n) => /[ëüłżñ]/i.test(n))).toBe(true);
    expect(names.some((n) => /[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]/.test(n))).toBe(true);
    expect(names.some((n) => /\p{Extended_Pictographic}/u.test(n))).toBe(true);
    expect(names.some((n) => n.includes('"'))).toBe(true);
    expect(names.some((n) => n.includes("'"))).toBe(true);
    expect(names.some((n) => n.includes('\\'))).toBe(true);
    expect(names.some((n) => n.length === 100)).toBe(true);
  });

  it('finds accounts by id and position, and nothing for ids that are not its own', () => {
    const a = accounts[1234]!;
    expect(dataset.get(a.id)).toEqual(a);
    expect(dataset.at(1234)).toEqual(a);
    expect(dataset.has(a.id)).toBe(true);
    expect(dataset.get('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    expect(dataset.get(`${a.id.slice(0, -1)}${a.id.endsWith('0') ? '1' : '0'}`)).toBeUndefined();
    expect(dataset.at(3000)).toBeUndefined();
    expect(() => dataset.setStatus('not-an-id', 'ACTIVE')).toThrow(/unknown account/);
  });
});

describe('Dataset: changes', () => {
  it('stamps every change with the clock, microseconds, strictly increasing, newer than any base account', () => {
    const dataset = new Dataset({ accounts: 500, seed: 4, now: () => FIXED_NOW });
    const [a, b] = dataset.list();
    const first = dataset.setStatus(a!.id, 'SUSPENDED');
    const second = dataset.rename(b!.id, 'Zoë Müller – Depot');
    const third = dataset.setUsers(a!.id, [a!.users[0]!.id, { id: 'f0f0f0f0-0000-4000-8000-000000000001' }]);
    expect(first.status).toBe('SUSPENDED');
    expect(second.name).toBe('Zoë Müller – Depot');
    expect(third.users).toEqual([a!.users[0], { id: 'f0f0f0f0-0000-4000-8000-000000000001', type: 'OWNER' }]);
    const stamps = [first, second, third].map((x) => micros(x.updated_at));
    // The clock gives the millisecond; the simulator adds real microseconds and keeps order.
    for (const stamp of stamps) expect(stamp - FIXED_NOW * 1000).toBeGreaterThanOrEqual(0);
    expect(stamps[0]).toBeLessThan(FIXED_NOW * 1000 + 1000);
    expect(stamps[1]).toBeGreaterThan(stamps[0]!);
    expect(stamps[2]).toBeGreaterThan(stamps[1]!);
    expect(first.updated_at).toMatch(/^2025-01-15T12:00:00\.\d{3}\d*Z$/);
    expect(dataset.get(a!.id)).toMatchObject({ status: 'SUSPENDED', created_at: a!.created_at, updated_at: third.updated_at });
  });

  it('never goes back in time even when the clock is behind the data', () => {
    const dataset = new Dataset({ accounts: 10, seed: 4, now: () => 0 });
    const last = dataset.list()[9]!;
    const changed = dataset.setStatus(dataset.list()[0]!.id, 'LOCKED');
    expect(micros(changed.updated_at)).toBe(micros(last.updated_at) + 1);
  });

  it('removes and restores accounts, unchanged', () => {
    const dataset = new Dataset({ accounts: 50, seed: 2 });
    const before = dataset.list();
    expect(dataset.remove(before[3]!.id)).toBe(true);
    expect(dataset.remove(before[3]!.id)).toBe(false);
    expect(dataset.count).toBe(49);
    expect(dataset.get(before[3]!.id)).toBeUndefined();
    expect(dataset.list()).toEqual([...before.slice(0, 3), ...before.slice(4)]);
    expect(dataset.restore(before[3]!.id)).toBe(true);
    expect(dataset.restore(before[3]!.id)).toBe(false);
    expect(dataset.list()).toEqual(before);
  });

  it('adds accounts created now at the end, pending approval, in new groups', () => {
    const dataset = new Dataset({ accounts: 20, seed: 2, now: () => FIXED_NOW });
    const added = dataset.add(30);
    expect(dataset.count).toBe(50);
    expect(dataset.list().slice(20)).toEqual(added);
    const baseGroups = new Set(dataset.list().slice(0, 20).map((a) => a.account_group_id));
    for (const a of added) {
      expect(a.id).toMatch(UUID_V4);
      expect(a.status).toBe('PENDING_APPROVAL');
      expect(a.updated_at).toBe(a.created_at);
      expect(micros(a.created_at)).toBeGreaterThanOrEqual(FIXED_NOW * 1000);
      expect(baseGroups.has(a.account_group_id)).toBe(false);
      expect(dataset.get(a.id)).toEqual(a);
    }
    const numbers = new Map<string, number[]>();
    for (const a of added) numbers.set(a.account_group_id, [...(numbers.get(a.account_group_id) ?? []), a.account_number]);
    for (const list of numbers.values()) expect(list).toEqual(list.map((_, i) => i + 1));
    expect(added.map((a) => micros(a.created_at))).toEqual([...added.map((a) => micros(a.created_at))].sort((x, y) => x - y));
  });

  it('serves corruption raw without changing the data, and removes it again', () => {
    const dataset = new Dataset({ accounts: 5, seed: 2 });
    const a = dataset.list()[2]!;
    dataset.corrupt(a.id, { name: 42, created_at: 'yesterday' });
    dataset.corrupt(a.id, { status: null, users: undefined, extra: { nested: true } });
    const { users: _dropped, ...rest } = a;
    expect(dataset.served(a.id)).toEqual({ ...rest, name: 42, created_at: 'yesterday', status: null, extra: { nested: true } });
    expect(dataset.get(a.id)).toEqual(a);
    dataset.uncorrupt(a.id);
    expect(dataset.served(a.id)).toEqual(a);
  });

  it('applies random changes deterministically, to distinct accounts, along the real lifecycle', () => {
    const run = () => {
      const dataset = new Dataset({ accounts: 2000, seed: 9, now: () => FIXED_NOW });
      const log = dataset.applyRandomChanges({ seed: 5, statusChanges: 40, renames: 10, additions: 7, removals: 6, userChanges: 8 });
      return { dataset, log };
    };
    const { dataset, log } = run();
    expect(run().log).toEqual(log);
    expect(log.statusChanges).toHaveLength(40);
    expect(log.renames).toHaveLength(10);
    expect(log.userChanges).toHaveLength(8);
    expect(log.removed).toHaveLength(6);
    expect(log.added).toHaveLength(7);
    const touched = [...log.statusChanges, ...log.renames, ...log.userChanges].map((c) => c.id).concat(log.removed);
    expect(new Set(touched).size).toBe(touched.length);
    const allowed = new Set(['PENDING_APPROVAL>ACTIVE', 'ACTIVE>CLOSING', 'ACTIVE>LOCKED', 'CLOSING>CLOSED', 'LOCKED>ACTIVE']);
    for (const c of log.statusChanges) {
      expect(allowed.has(`${c.from}>${c.to}`)).toBe(true);
      expect(dataset.get(c.id)!.status).toBe(c.to);
    }
    for (const r of log.renames) expect(dataset.get(r.id)!.name).toBe(r.to);
    for (const u of log.userChanges) expect(dataset.get(u.id)!.users.map((x) => x.id)).toEqual(u.to);
    for (const id of log.removed) expect(dataset.has(id)).toBe(false);
    expect(dataset.count).toBe(2001);
  });
});

describe('Dataset: orderings', () => {
  it('pages every ordering exactly like a brute-force sort, through removals, changes and additions', () => {
    const dataset = new Dataset({ accounts: 1500, seed: 6, now: () => FIXED_NOW });
    dataset.applyRandomChanges({ seed: 1, statusChanges: 50, renames: 20, removals: 30, userChanges: 10, additions: 25 });
    const some = dataset.list();
    dataset.remove(some[0]!.id);
    dataset.remove(some.at(-1)!.id);
    dataset.setStatus(some[1]!.id, 'LOCKED');
    dataset.remove(some[1]!.id);
    const live = dataset.list();
    expect(live).toHaveLength(1500 - 30 + 25 - 3);
    const created = live.map((a) => a.id);
    const updated = byUpdated(live);
    const orders = {
      'created_at ASC': created,
      'created_at DESC': [...created].reverse(),
      'updated_at ASC': updated,
      'updated_at DESC': [...updated].reverse(),
    };
    for (const [name, expected] of Object.entries(orders)) {
      const [sort, order] = name.split(' ') as ['created_at' | 'updated_at', 'ASC' | 'DESC'];
      for (const [offset, limit] of [[0, 1000], [0, 7], [13, 100], [1400, 100], [1491, 5], [1492, 10], [5000, 10]] as const) {
        const page = dataset.renderPage(sort, order, offset, limit).map((json) => (JSON.parse(json) as SimAccount).id);
        expect(page, `${name} offset=${offset} limit=${limit}`).toEqual(expected.slice(offset, offset + limit));
      }
    }
  });

  it('pages a million accounts with a few removals without materialising them', () => {
    const dataset = new Dataset({ accounts: 1_000_000, seed: 1 });
    const at = (p: number) => dataset.at(p)!.id;
    const victims = [0, 10, 11, 500_000, 999_999].map(at);
    const neighbours = [1, 12, 500_001, 999_998].map(at);
    for (const id of victims) dataset.remove(id);
    expect(dataset.count).toBe(999_995);
    expect(at(0)).toBe(neighbours[0]);
    expect(at(9)).toBe(neighbours[1]);
    expect(at(499_997)).toBe(neighbours[2]);
    expect(at(999_994)).toBe(neighbours[3]);
    expect(dataset.renderPage('created_at', 'ASC', 999_000, 1000)).toHaveLength(995);
    expect(dataset.renderPage('updated_at', 'DESC', 0, 1)).toEqual(dataset.renderPage('created_at', 'DESC', 0, 1));
  });
});
