import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

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
    expect(await h.prisma.account.count()).toBe(595); // six pages of 100 overlapping by one
    const run = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: interrupted.runId } });
    expect(run.status).toBe('interrupted');
    expect(await h.prisma.syncRunPage.count({ where: { syncRunId: interrupted.runId } })).toBe(6);

    h.simulator.stats.reset();
    const resumed = await h.sync({ resumeRunId: interrupted.runId });
    expect(resumed).toMatchObject({
      runId: interrupted.runId,
      status: 'succeeded',
      pages: 16,
      accountsSeen: 1500,
      inserted: 1500,
      walkComplete: true,
      walkConsistent: true,
    });
    // Only the pages the first attempt had not committed were fetched again.
    expect(h.simulator.stats.byPath['/accounts']).toBe(10);
    expect((await mirroredAccounts(h.prisma)).map((a) => a.id)).toEqual(h.simulator.dataset.list().map((a) => a.id));
    expect(await h.prisma.syncRunPage.count()).toBe(0);
  });

  it('cannot be resumed once it has finished', async () => {
    const done = await h.sync();
    await expect(h.sync({ resumeRunId: done.runId })).rejects.toThrow(
      `sync run ${done.runId} is not running or interrupted: only such a run can be resumed`,
    );
  });
});
