import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirroredAccounts, normalizeTimestamp, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('sync_resilience', { accounts: 2000, seed: 21 });
});
afterAll(() => h?.close());

const faults = [
  { kind: 'status', status: 429 },
  { kind: 'status', status: 429, retryAfter: '0' },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 502 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 504 },
  { kind: 'reset' },
  { kind: 'truncate' },
  { kind: 'nonjson' },
] as const;

describe('a sync through an unreliable upstream', () => {
  it('mirrors exactly through 429s, 5xx answers, resets and truncated bodies, and then records exactly the changes', async () => {
    h.simulator.faults.setRandom({ probability: 0.3, kinds: [...faults], seed: 99, path: '/accounts' });
    const first = await h.sync({ env: { UPVEST_RETRIES: '20' } });
    expect(first).toMatchObject({ status: 'succeeded', accountsSeen: 2000, walkConsistent: true });
    expect(first.retries).toBeGreaterThan(5);
    const expectedMirror = () =>
      h.simulator.dataset.list().map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: normalizeTimestamp(a.updated_at) }));
    const mirror = async () =>
      (await mirroredAccounts(h.prisma)).map((a) => ({ id: a.id, status: a.status, name: a.name, updated_at: a.updated_at }));
    expect(await mirror()).toEqual(expectedMirror());

    const changes = h.simulator.dataset.applyRandomChanges({ seed: 1, statusChanges: 25 });
    const second = await h.sync({ env: { UPVEST_RETRIES: '20' } });
    expect(second).toMatchObject({ status: 'succeeded', statusChanges: 25, walkConsistent: true });
    const recorded = await h.prisma.accountStatusChange.findMany({
      where: { syncRunId: second.runId },
      select: { accountId: true, fromStatus: true, toStatus: true },
      orderBy: { accountId: 'asc' },
    });
    expect(recorded).toEqual(
      changes.statusChanges
        .map((c) => ({ accountId: c.id, fromStatus: c.from, toStatus: c.to }))
        .sort((a, b) => (a.accountId < b.accountId ? -1 : 1)),
    );
    expect(await mirror()).toEqual(expectedMirror());
    h.simulator.faults.setRandom(null);
  });

  it('fails the run, records why, marks nothing deleted and keeps its committed pages when Upvest goes down mid-run', async () => {
    // Every account changes upstream; Upvest goes down once the run has committed three pages:
    // requests from offset 500 on wait for them, then find Upvest down.
    const ids = h.simulator.dataset.ids();
    h.simulator.dataset.setStatuses(ids, 'DOWN_TEST');
    let committed = 0;
    let down!: () => void;
    const upvestDown = new Promise<void>((resolve) => (down = resolve));
    const summary = await h.sync({
      env: { UPVEST_RETRIES: '2' },
      onProgress: (progress) => {
        committed = progress.pagesDone;
        if (committed < 3) return;
        h.simulator.faults.setRandom({ probability: 1, kinds: [{ kind: 'status', status: 503 }], path: '/accounts' });
        down();
      },
      client: (real) => ({
        async listAccounts(query, signal, options) {
          if (query.offset >= 500) await upvestDown;
          return real.listAccounts(query, signal, options);
        },
        getAccount: (id, signal) => real.getAccount(id, signal),
      }),
    });
    h.simulator.faults.setRandom(null);
    expect(summary, summary.error ?? '').toMatchObject({ status: 'failed', errorCode: 'UPVEST_SERVER_ERROR', deletions: 0, walkComplete: false });
    expect(summary.error).toMatch(/^GET \/accounts offset=[1-9][0-9]*: HTTP 503/);
    const run = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: summary.runId } });
    expect(run).toMatchObject({ status: 'failed', errorCode: 'UPVEST_SERVER_ERROR' });
    expect(run.finishedAt).not.toBeNull();
    expect(await h.prisma.account.count({ where: { deletedAt: { not: null } } })).toBe(0);

    // Its committed pages are kept: counted on the run, and the accounts they wrote, with their
    // history, stay written (the page rows themselves are bookkeeping, cleared once it ended).
    expect(committed).toBeGreaterThanOrEqual(3);
    expect(run.pages).toBe(committed);
    const written = (await h.prisma.account.findMany({ where: { status: 'DOWN_TEST' }, select: { id: true, lastSyncRunId: true } }))
      .map((a) => (a.lastSyncRunId === summary.runId ? a.id : `${a.id} written by run ${a.lastSyncRunId}`))
      .sort();
    expect(written.length).toBeGreaterThanOrEqual(200);
    expect(written.length).toBeLessThan(ids.length);
    const history = await h.prisma.accountStatusChange.findMany({ where: { syncRunId: summary.runId }, select: { accountId: true, toStatus: true } });
    expect(history.map((c) => c.accountId).sort()).toEqual(written);
    expect(history.every((c) => c.toStatus === 'DOWN_TEST')).toBe(true);

    // What they wrote is not written again: the next run changes only the others.
    const next = await h.sync({ env: { UPVEST_RETRIES: '2' } });
    expect(next).toMatchObject({ status: 'succeeded', statusChanges: ids.length - written.length, deletions: 0 });
    expect(await h.prisma.account.count({ where: { status: 'DOWN_TEST', deletedAt: null } })).toBe(ids.length);
  });
});
