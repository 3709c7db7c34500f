// Issue 25: the fields Upvest adds are kept, and every change of an account is remembered, so
// that "the account as of T" (accounts_as_of) matches the simulator's own history for any T.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimAccount } from '../../src/simulator/index.js';
import { Prng } from '../../src/simulator/hash.js';
import { toMicros } from '../../src/mirror/timestamps.js';
import { startHarness, type Harness } from '../support/harness.js';
import { installWriteCounter, type WriteCounter } from '../support/write-counter.js';
import { spawnCli } from '../support/cli.js';

let h: Harness;
let writes: WriteCounter;
/** When the first sync began: every T from here on is one the mirror can answer for. */
let firstSyncUs: number;
/** Accounts the rounds changed. */
const changed = new Set<string>();

const KNOWN = new Set(['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number']);

/** The simulator's account in the shape accounts_as_of gives. */
function expectedOf(a: SimAccount) {
  const extra = Object.fromEntries(Object.entries(a).filter(([key]) => !KNOWN.has(key)));
  return {
    id: a.id,
    account_group_id: a.account_group_id,
    type: a.type,
    name: a.name,
    status: a.status,
    account_number: a.account_number,
    extra: Object.keys(extra).length === 0 ? null : extra,
    users: [...a.users]
      .sort((x, y) => (x.id < y.id ? -1 : 1))
      .map((u) => {
        const { id, type, ...rest } = u as unknown as Record<string, unknown>;
        return { id, type, extra: Object.keys(rest).length === 0 ? null : rest };
      }),
  };
}

async function asOf(atUs: number, ids: string[]) {
  const at = new Date(Math.floor(atUs / 1000)).toISOString().replace('Z', `${String(atUs % 1000).padStart(3, '0')}Z`);
  return h.prisma.$queryRaw<Array<ReturnType<typeof expectedOf>>>`
    SELECT id::text, account_group_id::text, type, name, status, account_number::int AS account_number, extra, users
    FROM accounts_as_of(${at}::timestamptz) WHERE id = ANY(${ids}::uuid[]) ORDER BY id`;
}

async function changeCount(): Promise<number> {
  const [row] = await h.prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM account_changes`;
  return row!.n;
}

const nowUs = () => Date.now() * 1000;

beforeAll(async () => {
  h = await startHarness('sync_history', { accounts: 400, seed: 25, history: true });
  writes = await installWriteCounter(h.prisma);
  expect(await h.sync()).toMatchObject({ status: 'succeeded', inserted: 400 });
  firstSyncUs = nowUs();
});
afterAll(() => h?.close());

describe('the history of every change', () => {
  it('needs no row for the first sync, and an unchanged re-sync writes none', async () => {
    expect(await changeCount()).toBe(0);
    const since = await writes.mark();
    const summary = await h.sync({ env: { SYNC_SKIP_UNCHANGED_PAGES: 'false' } });
    expect(summary).toMatchObject({ status: 'succeeded', inserted: 0, updated: 0, statusChanges: 0 });
    expect(await writes.writtenSince(since)).toEqual({ accounts: 0, users: 0, account_users: 0, account_status_changes: 0, rejected_records: 0 });
    expect(await changeCount()).toBe(0);
  });

  it('records each change once, with its source, and gives every account as it was at any instant since it was first seen', async () => {
    const dataset = h.simulator.dataset;
    const prng = new Prng(2025);
    for (let round = 0; round < 6; round++) {
      const log = dataset.applyRandomChanges({ seed: 100 + round, statusChanges: 8, renames: 8, userChanges: 6 });
      // One change per account between two syncs: the mirror sees only what a sync is served.
      const touched = new Set([...log.statusChanges, ...log.renames, ...log.userChanges].map((c) => c.id));
      const untouched = () => {
        for (;;) {
          const account = dataset.at(prng.int(dataset.count))!;
          if (!touched.has(account.id)) return touched.add(account.id) && account;
        }
      };
      // Unknown fields of its own, and owners with unknown fields of theirs.
      for (let k = 0; k < 4; k++) {
        dataset.setExtra(untouched().id, round % 3 === 2 ? undefined : { risk_class: `R${round}`, flags: { round, k } });
      }
      const joint = untouched();
      dataset.setUsers(joint.id, [...joint.users.map((u) => ({ id: u.id, type: u.type })), { id: dataset.newUserId(), type: 'GUARDIAN', extra: { since_round: round } }]);
      touched.forEach((id) => changed.add(id));
      expect(await h.sync({ mode: round % 2 === 0 ? 'full' : 'incremental' })).toMatchObject({ status: 'succeeded' });
    }
    const ids = [...changed].sort();

    // Exactly once: the mirror's changes of each field are the simulator's, version by version.
    const rows = await h.prisma.$queryRaw<Array<{ account_id: string; field: string; user_id: string | null; at: string; old_value: unknown; new_value: unknown; source: string }>>`
      SELECT account_id::text, field, user_id::text, (extract(epoch FROM changed_at) * 1000000)::bigint::text AS at, old_value, new_value, source
      FROM account_changes ORDER BY account_id, field, user_id, changed_at, id`;
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['sync']));
    const expected: typeof rows = [];
    for (const id of ids) {
      const versions = dataset.history(id).filter((v) => v.account !== null);
      for (let v = 1; v < versions.length; v++) {
        const [before, after] = [expectedOf(versions[v - 1]!.account!), expectedOf(versions[v]!.account!)];
        const at = String(toMicros(versions[v]!.account!.updated_at));
        for (const field of ['name', 'status', 'extra'] as const) {
          if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) {
            expected.push({ account_id: id, field, user_id: null, at, old_value: before[field], new_value: after[field], source: 'sync' });
          }
        }
        const owners = new Set([...before.users, ...after.users].map((u) => u.id as string));
        for (const user of owners) {
          const was = before.users.find((u) => u.id === user);
          const is = after.users.find((u) => u.id === user);
          const value = (u: typeof was) => (u ? { type: u.type, extra: u.extra } : null);
          if (JSON.stringify(value(was)) !== JSON.stringify(value(is))) {
            expected.push({ account_id: id, field: 'user', user_id: user, at, old_value: value(was), new_value: value(is), source: 'sync' });
          }
        }
      }
    }
    const order = (r: (typeof rows)[number]) => `${r.account_id} ${r.field} ${r.user_id ?? ''} ${r.at.padStart(20, '0')}`;
    expect(rows.sort((a, b) => (order(a) < order(b) ? -1 : 1))).toEqual(expected.sort((a, b) => (order(a) < order(b) ? -1 : 1)));

    // Any instant: the change instants themselves, a microsecond either side, and random ones.
    const instants = new Set<number>();
    for (const id of ids) {
      for (const v of dataset.history(id)) {
        const at = v.account ? Number(toMicros(v.account.updated_at)!) : v.atUs;
        if (at >= firstSyncUs) [at - 1, at, at + 1].forEach((t) => instants.add(t));
      }
    }
    const end = nowUs();
    for (let k = 0; k < 40; k++) instants.add(firstSyncUs + Math.floor(prng.next() * (end - firstSyncUs)));
    for (const t of [...instants].sort((a, b) => a - b)) {
      const mirror = await asOf(t, ids);
      const simulator = ids.map((id) => dataset.asOf(id, t)).filter((a): a is SimAccount => a !== null).map(expectedOf);
      expect({ at: t, accounts: mirror }).toEqual({ at: t, accounts: simulator });
    }
  });
});

describe('fields Upvest adds', () => {
  it('appear on the next run without a release, each a change with its history, and a change to one is an update', async () => {
    const dataset = h.simulator.dataset;
    const [last] = await h.prisma.$queryRaw<Array<{ id: bigint }>>`SELECT coalesce(max(id), 0) AS id FROM account_changes`;
    const before = last!.id;
    dataset.setUnknownFields({ account: { tax_residency: 'DE' }, user: { kyc_level: 2 } });
    const seen = nowUs();
    expect(await h.sync()).toMatchObject({ status: 'succeeded', inserted: 0, updated: 400, unchanged: 0 });
    const [counts] = await h.prisma.$queryRaw<Array<{ with_extra: number; links_with_extra: number; links: number }>>`
      SELECT (SELECT count(*)::int FROM accounts WHERE extra @> '{"tax_residency": "DE"}') AS with_extra,
             (SELECT count(*)::int FROM account_users WHERE extra = '{"kyc_level": 2}') AS links_with_extra,
             (SELECT count(*)::int FROM account_users) AS links`;
    expect(counts!.with_extra).toBe(400);
    expect(counts!.links_with_extra).toBeGreaterThan(0);
    // Every account's extra changed once, dated when the mirror saw it (no new version came).
    const [extraChanges] = await h.prisma.$queryRaw<Array<{ n: number; seen_after: boolean }>>`
      SELECT count(*)::int AS n, bool_and(changed_at >= to_timestamp(${seen / 1e6})) AS seen_after
      FROM account_changes WHERE field = 'extra' AND new_value @> '{"tax_residency": "DE"}' AND id > ${before}`;
    expect(extraChanges).toEqual({ n: 400, seen_after: true });

    const account = dataset.list().find((a) => !changed.has(a.id))!;
    dataset.setExtra(account.id, { tax_residency: 'FR' });
    expect(await h.sync()).toMatchObject({ status: 'succeeded', updated: 1, unchanged: 399 });
    const [change] = await h.prisma.$queryRaw<Array<{ old_value: unknown; new_value: unknown; source: string }>>`
      SELECT old_value, new_value, source FROM account_changes WHERE account_id = ${account.id}::uuid AND field = 'extra'
      ORDER BY id DESC LIMIT 1`;
    expect(change).toEqual({ old_value: { tax_residency: 'DE' }, new_value: { tax_residency: 'FR' }, source: 'sync' });
  });

  it('keeps aside, with the reason, an account whose unknown fields are past SYNC_EXTRA_MAX_BYTES, and stores the rest', async () => {
    const account = h.simulator.dataset.list().find((a) => !changed.has(a.id))!;
    // {"tax_residency":"DE","notes":"n..."}: the field every account has now, and 100 n.
    h.simulator.dataset.setExtra(account.id, { notes: 'n'.repeat(100) });
    const summary = await h.sync({ env: { SYNC_EXTRA_MAX_BYTES: '100' } });
    // (The catch-up pass lists the newest account again, and keeps it aside again.)
    expect(summary).toMatchObject({ status: 'succeeded', updated: 0 });
    const rejected = await h.prisma.$queryRaw<Array<{ account_id: string; reason: string }>>`
      SELECT DISTINCT account_id, reason FROM rejected_records WHERE sync_run_id = ${summary.runId}::bigint`;
    expect(rejected).toEqual([{ account_id: account.id, reason: 'record has unknown fields of 133 bytes as JSON, more than 100' }]);
  });
});

describe('the change feed of every field', () => {
  it('carries the changes, typed, from a cursor of their own, leaving the status feed as it was', async () => {
    const rows = await h.prisma.$queryRaw<Array<{ id: string; account_id: string; field: string; user_id: string | null; old: unknown; new: unknown; source: string }>>`
      SELECT id::text, account_id::text, field, user_id::text, old_value AS old, new_value AS new, source
      FROM account_changes c ORDER BY c.id LIMIT 6`;
    const since = BigInt(rows[0]!.id) - 1n;
    const cli = spawnCli(['changes', '--fields', '--json', '--since', String(since), '--limit', '5'], h.env);
    expect((await cli.exited).code).toBe(0);
    await cli.closed;
    const lines = cli.stdout().trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map(({ id, account_id, field, user_id, old, new: now, source }) => ({ id: String(id), account_id, field, user_id, old, new: now, source }))).toEqual(rows.slice(0, 5));
    // The status feed is read as before: its own ids, its own lines.
    const status = spawnCli(['changes', '--json', '--limit', '1'], h.env);
    expect((await status.exited).code).toBe(0);
    await status.closed;
    expect(Object.keys(JSON.parse(status.stdout()) as object)).toEqual(['id', 'account_id', 'from_status', 'to_status', 'changed_at', 'observed_at', 'source', 'sync_run_id', 'webhook_event_id']);
  });
});
