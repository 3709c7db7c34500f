// `account-sync refresh ID...` (issue 25): the accounts fetched now and written through the
// mirror's writer with source 'lookup'; a 404 marks deleted only from a route shown to work.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../support/cli.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('sync_refresh', { accounts: 60, seed: 26 });
  expect(await h.sync()).toMatchObject({ status: 'succeeded', inserted: 60 });
});
afterAll(() => h?.close());

async function refresh(...args: string[]) {
  const cli = spawnCli(['refresh', ...args], h.env);
  const { code } = await cli.exited;
  await cli.closed;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}

async function changesOf(id: string) {
  return h.prisma.$queryRaw<Array<{ field: string; old_value: unknown; new_value: unknown; source: string; run: string | null }>>`
    SELECT field, old_value, new_value, source, sync_run_id::text AS run FROM account_changes
    WHERE account_id = ${id}::uuid AND field <> 'deleted_at' ORDER BY id`;
}

describe('account-sync refresh', () => {
  it('writes the accounts as Upvest has them now, their changes recorded as a lookup, and marks a 404 deleted', async () => {
    const [renamed, gone, same] = h.simulator.dataset.list().slice(10, 13).map((a) => a.id);
    const dataset = h.simulator.dataset;
    const before = dataset.get(renamed!)!;
    dataset.rename(renamed!, 'Refreshed Name');
    dataset.setStatus(renamed!, 'LOCKED');
    dataset.remove(gone!);

    const result = await refresh(renamed!.toUpperCase(), gone!, same!);
    expect(result).toMatchObject({ code: 0, stdout: `${renamed}\tupdated\n${gone}\tdeleted\n${same}\tunchanged\n` });
    expect(await changesOf(renamed!)).toEqual([
      { field: 'name', old_value: before.name, new_value: 'Refreshed Name', source: 'lookup', run: null },
      { field: 'status', old_value: before.status, new_value: 'LOCKED', source: 'lookup', run: null },
    ]);
    const [deletion] = await h.prisma.$queryRaw<Array<{ source: string; deleted: boolean }>>`
      SELECT c.source, a.deleted_at IS NOT NULL AS deleted FROM account_changes c JOIN accounts a ON a.id = c.account_id
      WHERE c.account_id = ${gone}::uuid AND c.field = 'deleted_at'`;
    expect(deletion).toEqual({ source: 'lookup', deleted: true });
    const statusChanges = await h.prisma.$queryRaw<Array<{ to_status: string; source: string }>>`
      SELECT to_status, source FROM account_status_changes WHERE account_id = ${renamed}::uuid ORDER BY id`;
    expect(statusChanges).toEqual([
      { to_status: before.status, source: 'sync' },
      { to_status: 'LOCKED', source: 'lookup' },
    ]);

    // Again: nothing new to write, and nothing is recorded twice.
    const again = await refresh(renamed!, gone!);
    expect(again).toMatchObject({ code: 0, stdout: `${renamed}\tunchanged\n${gone}\tnot_found\n` });
    expect(await changesOf(renamed!)).toHaveLength(2);
  });

  it('marks nothing deleted when the route is not shown to work, and says so', async () => {
    const gone = h.simulator.dataset.list()[20]!.id;
    h.simulator.dataset.remove(gone);
    // The account's own 404 is Upvest's; the lookup of a live account to show the route works
    // is answered 404 by something else (a gateway without the route).
    h.simulator.faults.enqueue('/accounts/*', { kind: 'latency', ms: 0 }, { kind: 'status', status: 404, body: 'no route', contentType: 'text/plain' });
    const result = await refresh(gone);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`^${gone}\\tfailed\\tanswered 404, but GET /accounts/[0-9a-f-]+, a live account of the mirror, answered 404 too: not marked deleted\\n$`));
    const [row] = await h.prisma.$queryRaw<Array<{ deleted: boolean }>>`SELECT deleted_at IS NOT NULL AS deleted FROM accounts WHERE id = ${gone}::uuid`;
    expect(row).toEqual({ deleted: false });
  });

  it('takes only account ids, and says how it is used', async () => {
    expect(await refresh()).toMatchObject({ code: 2, stdout: '' });
    const notAnId = await refresh('ORDER-42');
    expect(notAnId.code).toBe(2);
    expect(notAnId.stderr).toContain('not an account id (a UUID): ORDER-42');
    const help = await refresh('--help');
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toMatch(/^usage: account-sync refresh <account id>\.\.\. \[--json\]/);
  });
});
