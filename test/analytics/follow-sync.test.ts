// The issue's acceptance test for the feed: a consumer following `account-sync changes
// --follow` while three real syncs (parallel page writers, against the simulator) record status
// changes sees every change exactly once, in id order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChanges } from '../../src/commands/changes.js';
import { startHarness, type Harness } from '../support/harness.js';
import { LineCapture } from './support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('analytics_follow_sync', { accounts: 1200, seed: 7 });
});
afterAll(() => h?.close());

describe('account-sync changes --follow during syncs', () => {
  it('sees every status change of three syncs exactly once, in order', async () => {
    const stdout = new LineCapture();
    const stderr = new LineCapture();
    const abort = new AbortController();
    const following = runChanges(
      ['--follow', '--json'],
      { env: { DATABASE_URL: h.db.url, LOG_LEVEL: 'silent' }, stdout, stderr },
      // No periodic re-read within the test: everything must arrive through LISTEN/NOTIFY.
      { signal: abort.signal, safetyIntervalMs: 3_600_000 },
    );
    try {
      const first = await h.sync();
      h.simulator.dataset.applyRandomChanges({ seed: 1, statusChanges: 150, additions: 40, removals: 10 });
      const second = await h.sync();
      h.simulator.dataset.applyRandomChanges({ seed: 2, statusChanges: 120, additions: 25 });
      const third = await h.sync();
      for (const summary of [first, second, third]) expect(summary.status).toBe('succeeded');
      expect(first.statusChanges).toBe(1200);
      expect(second.statusChanges).toBe(150 + 40);
      expect(third.statusChanges).toBe(120 + 25);

      const total = first.statusChanges + second.statusChanges + third.statusChanges;
      await stdout.waitForLines(total);
      abort.abort();
      expect(await following).toBe(0);

      const rows = await h.prisma.$queryRaw<Array<{ id: string; account_id: string; to_status: string; sync_run_id: string }>>`
        SELECT c.id::text AS id, c.account_id::text AS account_id, c.to_status, c.sync_run_id::text AS sync_run_id
        FROM account_status_changes c ORDER BY c.id`;
      expect(rows).toHaveLength(total);
      const printed = stdout.lines.map((line) => JSON.parse(line) as { id: number; account_id: string; to_status: string; sync_run_id: number });
      expect(printed.map((c) => [String(c.id), c.account_id, c.to_status, String(c.sync_run_id)])).toEqual(
        rows.map((r) => [r.id, r.account_id, r.to_status, r.sync_run_id]),
      );
      expect(new Set(printed.map((c) => c.id)).size).toBe(total);
      expect(stderr.lines).toEqual([]);
    } finally {
      abort.abort();
      await following;
    }
  });
});
