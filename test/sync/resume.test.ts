import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('sync_resume', { accounts: 1500, seed: 8 });
});
afterAll(() => h?.close());

describe('an interrupted run', () => {
  it('keeps what it committed, and resumes from there under the same id', async () => {
    const stop = new AbortController();
    const interrupted = await h.sync({
      env: { SYNC_CONCURRENCY: '1' },
      signal: stop.signal,
      onProgress: (progress) => {
        if (progress.pagesDone === 6) stop.abort(new Error('SIGTERM'));
      },
    });
    expect(interrupted).toMatchObject({
      status: 'interrupted',
      errorCode: 'SYNC_INTERRUPTED',
      error: 'interrupted: SIGTERM',
      pages: 6,
      deletions: 0,
      walkComplete: false,
    });
    expect(await h.prisma.account.count()).toBe(550); // six pages of 100 overlapping by ten
    const run = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: interrupted.runId } });
    expect(run.status).toBe('interrupted');
    expect(await h.prisma.syncRunPage.count({ where: { syncRunId: interrupted.runId } })).toBe(6);

    h.simulator.stats.reset();
    const resumed = await h.sync({ resumeRunId: interrupted.runId });
    expect(resumed).toMatchObject({
      runId: interrupted.runId,
      status: 'succeeded',
      pages: 18, // 17 of the walk, one of the catch-up pass
      accountsSeen: 1500,
      inserted: 1500,
      walkComplete: true,
      walkConsistent: true,
      // Resumed: it looked up the live accounts it did not list (none) instead of trusting its walk.
      deletionsComplete: true,
    });
    // Only the pages the first attempt had not committed were fetched again, and the catch-up page.
    expect(h.simulator.stats.byPath['/accounts']).toBe(12);
    expect((await mirroredAccounts(h.prisma)).map((a) => a.id)).toEqual(h.simulator.dataset.list().map((a) => a.id));
    expect(await h.prisma.syncRunPage.count()).toBe(0);
  });

  it('ends current when resumed after upstream changed: what changed while it was stopped is caught up', async () => {
    const before = await h.sync();
    expect(before.status).toBe('succeeded');
    const stop = new AbortController();
    const interrupted = await h.sync({
      env: { SYNC_CONCURRENCY: '1' },
      signal: stop.signal,
      onProgress: (progress) => {
        if (progress.pagesDone === 8) stop.abort(new Error('SIGTERM'));
      },
    });
    expect(interrupted.status).toBe('interrupted');
    // While it is stopped, accounts on pages it already read change.
    const early = h.simulator.dataset.list().slice(10, 13);
    h.simulator.dataset.setStatus(early[0]!.id, 'LOCKED');
    h.simulator.dataset.rename(early[1]!.id, 'Renamed while the run was stopped');
    h.simulator.dataset.setUsers(early[2]!.id, [h.simulator.dataset.newUserId()]);

    const resumed = await h.sync({ resumeRunId: interrupted.runId });
    expect(resumed).toMatchObject({ status: 'succeeded', walkConsistent: true, deletionsComplete: true });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    const changes = await h.prisma.accountStatusChange.findMany({
      where: { syncRunId: interrupted.runId },
      select: { accountId: true, toStatus: true },
      orderBy: { id: 'asc' },
    });
    expect(changes).toEqual([{ accountId: early[0]!.id, toStatus: 'LOCKED' }]);
  });

  it('cannot be resumed once it has finished', async () => {
    const done = await h.sync();
    await expect(h.sync({ resumeRunId: done.runId })).rejects.toThrow(
      `sync run ${done.runId} is not running or interrupted: only such a run can be resumed`,
    );
  });
});
