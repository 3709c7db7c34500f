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

  it('fails the run, records why, and marks nothing deleted when Upvest stays down', async () => {
    h.simulator.faults.setRandom({ probability: 1, kinds: [{ kind: 'status', status: 503 }], path: '/accounts' });
    const before = await h.prisma.account.count({ where: { deletedAt: null } });
    const summary = await h.sync({ env: { UPVEST_RETRIES: '2' } });
    h.simulator.faults.setRandom(null);
    expect(summary).toMatchObject({ status: 'failed', errorCode: 'UPVEST_SERVER_ERROR', deletions: 0, walkComplete: false });
    expect(summary.error).toMatch(/^GET \/accounts offset=0: HTTP 503/);
    const run = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: summary.runId } });
    expect(run).toMatchObject({ status: 'failed', errorCode: 'UPVEST_SERVER_ERROR', retries: 0 });
    expect(run.finishedAt).not.toBeNull();
    expect(await h.prisma.account.count({ where: { deletedAt: null } })).toBe(before);
  });
});
