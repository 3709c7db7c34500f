// Poison records, served on every run, through `account-sync sync` against the simulator over
// real HTTP: they are kept aside with their reason, the rest of the mirror stays exact, the
// runs go on succeeding, and no account is ever marked deleted on a walk that cannot prove it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimAccount } from '../../src/simulator/index.js';
import { runCli } from '../support/cli.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('bad_data', { accounts: 450, seed: 21 });
});
afterAll(() => h?.close());

interface SyncJson {
  status: string;
  accounts_seen: number;
  rejected_records: number;
  deletions: number;
  walk_consistent: boolean;
  inconsistencies: string[];
  error: string | null;
}

async function sync(): Promise<SyncJson> {
  const run = await runCli(['sync', '--json'], h.env);
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  return JSON.parse(run.stdout) as SyncJson;
}

async function dryRun() {
  const run = await runCli(['sync', '--dry-run', '--json'], h.env);
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  return JSON.parse(run.stdout) as { accountsSeen: number; rejected: number; unidentified: number };
}

/** The account as JSON text, with these fields' values replaced by raw JSON text (undefined: left out). */
function servedWith(account: SimAccount, fields: Record<string, string | undefined>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(account)) {
    if (!(key in fields)) parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
    else if (fields[key] !== undefined) parts.push(`${JSON.stringify(key)}:${fields[key]}`);
  }
  return `{${parts.join(',')}}`;
}

async function rejectedOf(runId: string) {
  return h.prisma.$queryRaw<Array<{ account_id: string | null; reason: string; raw_truncated: boolean; raw: unknown }>>`
    SELECT account_id, reason, raw_truncated, raw FROM rejected_records WHERE sync_run_id = ${BigInt(runId)} ORDER BY id`;
}

async function deletedIds(): Promise<string[]> {
  const rows = await h.prisma.$queryRaw<Array<{ id: string }>>`SELECT id::text FROM accounts WHERE deleted_at IS NOT NULL ORDER BY id`;
  return rows.map((r) => r.id);
}

const POISON: Array<{ fields: Record<string, string>; reason: string }> = [
  { fields: { name: JSON.stringify('lone \ud800 surrogate') }, reason: 'name contains an unpaired UTF-16 surrogate' },
  { fields: { status: JSON.stringify(randomBytes(4000).toString('base64')) }, reason: 'status is longer than 100 characters' },
  { fields: { name: `${'['.repeat(10_000)}"deep"${']'.repeat(10_000)}` }, reason: 'name must be string' },
  { fields: { name: JSON.stringify('nul \u0000 inside') }, reason: 'name contains a NUL character' },
  { fields: { created_at: '"2024-01-01T00:00:00+16:00"' }, reason: 'created_at is not an RFC 3339 date-time' },
  { fields: { users: '[{"id":"not-a-uuid","type":"OWNER"}]' }, reason: 'users.0.id is not a UUID' },
  { fields: { account_number: '100000000000000000000' }, reason: 'account_number is invalid: Too big: expected int to be <=9007199254740991' },
  {
    fields: { users: JSON.stringify(Array.from({ length: 101 }, (_, i) => ({ id: `c0c1b2d3-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 'OWNER' }))) },
    reason: 'users has more than 100 users',
  },
  { fields: { name: JSON.stringify('n'.repeat(1001)) }, reason: 'name is longer than 1000 characters' },
];

describe('poison records with a usable id', () => {
  let victims: SimAccount[];
  let removed: SimAccount;

  it('are kept aside with their reason on every run, while the rest is stored exactly and deletions go on', async () => {
    expect(await sync()).toMatchObject({ status: 'succeeded', accounts_seen: 450, rejected_records: 0 });

    // Inside one page (pages of 100 overlap by one: the second covers offsets 99 to 198).
    victims = POISON.map((_, i) => h.simulator.dataset.at(110 + i)!);
    POISON.forEach((poison, i) => h.simulator.dataset.serveRaw(victims[i]!.id, servedWith(victims[i]!, poison.fields)));
    removed = h.simulator.dataset.at(350)!;
    h.simulator.dataset.remove(removed.id);

    const second = (await sync()) as SyncJson & { run_id: string };
    expect(second).toMatchObject({
      status: 'succeeded',
      accounts_seen: 449,
      rejected_records: POISON.length,
      deletions: 1,
      walk_consistent: true,
      error: null,
    });
    const kept = await rejectedOf(second.run_id);
    expect(kept.map((r) => ({ account_id: r.account_id, reason: r.reason }))).toEqual(
      POISON.map((poison, i) => ({ account_id: victims[i]!.id, reason: poison.reason })),
    );
    expect(kept.map((r) => r.raw_truncated)).toEqual(POISON.map((_, i) => i === 2));
    // What jsonb cannot hold is kept as escape text; the rest as served.
    expect((kept[0]!.raw as { name: string }).name).toBe('lone \\ud800 surrogate');
    expect((kept[3]!.raw as { name: string }).name).toBe('nul \\u0000 inside');
    expect((kept[1]!.raw as { status: string }).status).toHaveLength(5336);

    // The victims keep what the first run stored (the simulator's clean data), nobody else changed.
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    expect(await deletedIds()).toEqual([removed.id]);
    const changes = await h.prisma.accountStatusChange.count({ where: { syncRunId: BigInt(second.run_id) } });
    expect(changes).toBe(0);
  });

  it('are decided the same way by a dry run, which prints the same counts', async () => {
    expect(await dryRun()).toMatchObject({ accountsSeen: 449, rejected: POISON.length, unidentified: 0 });
  });

  it('do not stop the next run either', async () => {
    const third = (await sync()) as SyncJson & { run_id: string };
    expect(third).toMatchObject({ status: 'succeeded', accounts_seen: 449, rejected_records: POISON.length, deletions: 0 });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    for (const victim of victims) h.simulator.dataset.uncorrupt(victim.id);
  });
});

describe('records without a usable id', () => {
  it('are kept aside; the run then looks up each live account it did not list, and marks deleted only those gone', async () => {
    const [idless, notUuid] = [h.simulator.dataset.at(20)!, h.simulator.dataset.at(260)!];
    h.simulator.dataset.serveRaw(idless.id, servedWith(idless, { id: undefined }));
    h.simulator.dataset.serveRaw(notUuid.id, servedWith(notUuid, { id: '"ORDER-42"' }));
    const removed = h.simulator.dataset.at(300)!;
    h.simulator.dataset.remove(removed.id);
    const before = await deletedIds();
    h.simulator.stats.reset();

    const run = (await sync()) as SyncJson & { run_id: string; deletions_complete: boolean };
    expect(run).toMatchObject({
      status: 'succeeded',
      accounts_seen: 446, // 448 listed, two of them without an id the run can name
      deletions: 1,
      deletions_complete: true,
      walk_consistent: false,
      inconsistencies: ['2 record(s) without a usable id were kept aside, so which accounts are listed cannot be proven'],
    });
    // The three live accounts it did not list were looked up: two are there (served without a
    // usable id again, kept aside again), one is gone.
    expect(h.simulator.stats.byPath[`/accounts/${removed.id}`]).toBe(1);
    expect(h.simulator.stats.byPath[`/accounts/${idless.id}`]).toBe(1);
    expect(h.simulator.stats.byPath[`/accounts/${notUuid.id}`]).toBe(1);
    const kept = await rejectedOf(run.run_id);
    expect(kept.length).toBe(run.rejected_records);
    expect(new Set(kept.map((r) => `${r.account_id} ${r.reason}`))).toEqual(new Set(['null id is missing', 'null id is not a UUID']));
    // Only the removed account is taken for deleted.
    expect(await deletedIds()).toEqual([...before, removed.id].sort());
    expect(await dryRun()).toMatchObject({ accountsSeen: 446, rejected: 2, unidentified: 2 });

    expect(await sync()).toMatchObject({ status: 'succeeded', deletions: 0, walk_consistent: false });

    h.simulator.dataset.uncorrupt(idless.id);
    h.simulator.dataset.uncorrupt(notUuid.id);
    expect(await sync()).toMatchObject({ status: 'succeeded', accounts_seen: 448, deletions: 0, walk_consistent: true });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});
