import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedMirror, mirroredAccounts, normalizeTimestamp, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('sync_consistency', { accounts: 1200, seed: 3 });
});
afterAll(() => h?.close());

describe('walk consistency and deletions', () => {
  it('proves its walk although an account was removed under it, and marks it deleted on the next run', async () => {
    const first = await h.sync({ env: { SYNC_CONCURRENCY: '1' } });
    expect(first).toMatchObject({ status: 'succeeded', accountsSeen: 1200, walkConsistent: true, healRequests: 0 });

    // Remove one account from the first page once that page is committed: every later item
    // moves up by one. Consecutive pages share ten accounts, so the next page still begins
    // within the last one: nothing was stepped over, and the walk proves it by its keys. The
    // removed account was listed (before it went), so this run does not mark it deleted.
    const removedId = h.simulator.dataset.list()[5]!.id;
    let removed = false;
    const shifted = await h.sync({
      env: { SYNC_CONCURRENCY: '1' },
      onProgress: (progress) => {
        if (!removed && progress.pagesDone === 1) {
          removed = true;
          h.simulator.dataset.remove(removedId);
        }
      },
    });
    expect(shifted).toMatchObject({ status: 'succeeded', walkConsistent: true, inconsistencies: [], healRequests: 0, deletions: 0, deletionsComplete: true });
    const settled = await h.sync();
    expect(settled).toMatchObject({ status: 'succeeded', walkConsistent: true, deletions: 1, accountsSeen: 1199 });
    const gone = await h.prisma.account.findMany({ where: { deletedAt: { not: null } }, select: { id: true } });
    expect(gone).toEqual([{ id: removedId }]);
  });

  it('goes back for the accounts a page stepped over when more were removed behind it than the pages share', async () => {
    // Fifteen accounts the first page listed are removed after the second page: every account
    // not yet read moves fifteen offsets down, and the third page begins five accounts past
    // the second's end. The run fetches a window around the gap and writes what it holds.
    const removedIds = h.simulator.dataset.list().slice(30, 45).map((a) => a.id);
    // Renamed upstream before the run: only a run that lists them can have their new names. A
    // hundred and fifty later renames elsewhere keep them off the catch-up pass's one page.
    const steppedOver = h.simulator.dataset.list().slice(190, 195).map((a) => h.simulator.dataset.rename(a.id, `Stepped over ${a.id.slice(0, 8)}`));
    for (const a of h.simulator.dataset.list().slice(600, 750)) h.simulator.dataset.rename(a.id, `Renamed ${a.id.slice(0, 8)}`);
    let moved = false;
    const summary = await h.sync({
      env: { SYNC_CONCURRENCY: '1', SYNC_INCREMENTAL_LAG_MS: '0' },
      onProgress: (progress) => {
        if (!moved && progress.pagesDone === 2) {
          moved = true;
          for (const id of removedIds) h.simulator.dataset.remove(id);
        }
      },
    });
    expect(summary).toMatchObject({ status: 'succeeded', walkConsistent: true, healRequests: 1, deletions: 0, accountsSeen: 1199 });
    // The five the layout stepped over were listed by the window, and written.
    const names = await h.prisma.account.findMany({ where: { id: { in: steppedOver.map((a) => a.id) } }, select: { id: true, name: true }, orderBy: { id: 'asc' } });
    expect(names).toEqual(steppedOver.map((a) => ({ id: a.id, name: a.name })).sort((a, b) => (a.id < b.id ? -1 : 1)));
    const next = await h.sync();
    expect(next).toMatchObject({ status: 'succeeded', walkConsistent: true, healRequests: 0, deletions: 15 });
    expect((await mirroredAccounts(h.prisma)).map((a) => a.id)).toEqual(expectedMirror(h).map((a) => a.id));
  });

  it('walks in parallel and still mirrors exactly', async () => {
    h.simulator.dataset.applyRandomChanges({ seed: 9, statusChanges: 30, renames: 10, additions: 15, removals: 5 });
    const summary = await h.sync({ env: { SYNC_CONCURRENCY: '6', SYNC_PAGE_SIZE: '37' } });
    expect(summary).toMatchObject({ status: 'succeeded', walkConsistent: true, deletions: 5, deletionsComplete: true });
    const expected = h.simulator.dataset.list().map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: normalizeTimestamp(a.updated_at) }));
    const mirror = (await mirroredAccounts(h.prisma)).map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: a.updated_at }));
    expect(mirror).toEqual(expected);
  });
});
