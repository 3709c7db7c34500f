import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordRunPages as recordPages } from '../../src/runs/lifecycle.js';
import { mirroredAccounts, normalizeTimestamp, startHarness, type Harness } from '../support/harness.js';
import { emptyPageRecord } from '../support/pages.js';

let h: Harness;
// No safety lag: the simulator makes every update visible at once.
const env = { SYNC_INCREMENTAL_LAG_MS: '0', SYNC_CONCURRENCY: '1' };

beforeAll(async () => {
  h = await startHarness('sync_incremental', { accounts: 2000, seed: 31 });
});
afterAll(() => h?.close());

const mirrorOf = async () =>
  (await mirroredAccounts(h.prisma)).map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: a.updated_at }));
const upstream = () =>
  h.simulator.dataset.list().map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: normalizeTimestamp(a.updated_at) }));

async function statusChangesOf(runId: bigint) {
  return h.prisma.$queryRaw<Array<{ account_id: string; from_status: string | null; to_status: string }>>`
    SELECT account_id::text, from_status, to_status FROM account_status_changes WHERE sync_run_id = ${runId} ORDER BY account_id`;
}

describe('incremental runs', () => {
  it('fall back to a full run while no run has succeeded', async () => {
    const first = await h.sync({ env, mode: 'incremental' });
    expect(first).toMatchObject({ mode: 'full', status: 'succeeded', accountsSeen: 2000 });
  });

  it('fetch only the pages holding the changes, and record exactly those changes', async () => {
    const changes = h.simulator.dataset.applyRandomChanges({ seed: 2, statusChanges: 40, renames: 10 });
    h.simulator.stats.reset();
    const run = await h.sync({ env, mode: 'incremental' });
    expect(run).toMatchObject({ mode: 'incremental', status: 'succeeded', walkComplete: true, deletions: 0 });
    // One page holds the 50 changes; the catch-up pass after it finds nothing newer (one page).
    expect(run.pages).toBe(2);
    expect(h.simulator.stats.byPath['/accounts']).toBe(2);
    expect(await statusChangesOf(run.runId)).toEqual(
      changes.statusChanges
        .map((c) => ({ account_id: c.id, from_status: c.from, to_status: c.to }))
        .sort((a, b) => (a.account_id < b.account_id ? -1 : 1)),
    );
    expect(await mirrorOf()).toEqual(upstream());
  });

  it('end current: a change made behind the cursor while a run walks is caught up before the run ends', async () => {
    // Page 0 of a full walk is committed, then an account on it changes: the walk cannot see
    // that change any more; the run's catch-up pass, newest first down to its watermark, does.
    const early = h.simulator.dataset.list()[3]!;
    let changed = false;
    const full = await h.sync({
      env,
      mode: 'full',
      onProgress: (p) => {
        if (!changed && p.pagesDone === 2) {
          changed = true;
          h.simulator.dataset.setStatus(early.id, 'LOCKED');
        }
      },
    });
    expect(full).toMatchObject({ status: 'succeeded', deletionsComplete: true, deletionsNote: null });
    expect(await statusChangesOf(full.runId)).toEqual([{ account_id: early.id, from_status: early.status, to_status: 'LOCKED' }]);
    expect(await mirrorOf()).toEqual(upstream());

    const run = await h.sync({ env, mode: 'incremental' });
    expect(run.mode).toBe('incremental');
    expect(await statusChangesOf(run.runId)).toEqual([]);
  });

  it('lose no change when accounts move to the front during the walk: they repeat, or the next run has them', async () => {
    // 250 changes span three pages of 100. During the walk, another change moves an account
    // from a later page to the front, behind the cursor: the items in between shift by one and
    // repeat, and the moved account is newer than this run's watermark, so the next run has it.
    const changes = h.simulator.dataset.applyRandomChanges({ seed: 3, statusChanges: 250 });
    const mover = changes.statusChanges[0]!;
    let moved = false;
    const run = await h.sync({
      env,
      mode: 'incremental',
      onProgress: (p) => {
        if (!moved && p.pagesDone === 1) {
          moved = true;
          h.simulator.dataset.rename(mover.id, 'Moved to the front');
        }
      },
    });
    const next = await h.sync({ env, mode: 'incremental' });
    expect([run.status, next.status]).toEqual(['succeeded', 'succeeded']);
    expect(run.statusChanges + next.statusChanges).toBe(250);
    const recorded = [...(await statusChangesOf(run.runId)), ...(await statusChangesOf(next.runId))].sort((a, b) =>
      a.account_id < b.account_id ? -1 : 1,
    );
    expect(recorded).toEqual(
      changes.statusChanges
        .map((c) => ({ account_id: c.id, from_status: c.from, to_status: c.to }))
        .sort((a, b) => (a.account_id < b.account_id ? -1 : 1)),
    );
    expect(await mirrorOf()).toEqual(upstream());
  });

  it('never mark deletions; the next full run does', async () => {
    const removed = h.simulator.dataset.list()[1000]!.id;
    h.simulator.dataset.remove(removed);
    h.simulator.dataset.setStatus(h.simulator.dataset.list()[5]!.id, 'CLOSING');
    const run = await h.sync({ env, mode: 'incremental' });
    expect(run).toMatchObject({ mode: 'incremental', deletions: 0, statusChanges: 1 });
    expect((await h.prisma.account.findUniqueOrThrow({ where: { id: removed } })).deletedAt).toBeNull();
    const full = await h.sync({ env, mode: 'full' });
    expect(full).toMatchObject({ mode: 'full', deletions: 1, walkConsistent: true });
    expect((await h.prisma.account.findUniqueOrThrow({ where: { id: removed } })).deletedAt).not.toBeNull();
  });

  it('resume after a crash that followed their catch-up pass, numbering their pages after every page committed', async () => {
    // 250 changes: a walk of three pages of 100, then the catch-up pass.
    h.simulator.dataset.applyRandomChanges({ seed: 7, statusChanges: 250 });
    const stop = new AbortController();
    const interrupted = await h.sync({
      env,
      mode: 'incremental',
      signal: stop.signal,
      onProgress: (progress) => {
        if (progress.pagesDone === 3) stop.abort(new Error('SIGKILL'));
      },
    });
    expect(interrupted).toMatchObject({ status: 'interrupted', pages: 3 });
    // What the killed process would have left had its catch-up page committed before it died.
    await recordPages(h.prisma, [emptyPageRecord(interrupted.runId, 3, { kind: 'catch_up' })], []);

    // Its walk starts again as page 4: as page 3 it failed on sync_run_pages' key (DB_ERROR).
    const resumed = await h.sync({ env, resumeRunId: interrupted.runId });
    expect(resumed).toMatchObject({ runId: interrupted.runId, status: 'succeeded', errorCode: null, error: null });
    expect(await mirrorOf()).toEqual(upstream());
  });
});
