// The demo reads its settings through the same loader as every command: its own database and
// quieter logs stand in for what the environment leaves unset, the simulator's UPVEST_* win.
// After its two syncs, changes made at the simulator reach the mirror through its webhooks,
// and what it prints about them is what the mirror holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../../src/db/prisma.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('cli_demo', { migrate: false });
});
afterAll(() => db?.drop());

describe('account-sync demo', () => {
  it('mirrors the simulator into DATABASE_URL, whatever UPVEST_* says, and logs only warnings by default', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--accounts', '200', '--seed', '3'], {
      DATABASE_URL: db.url,
      UPVEST_BASE_URL: 'https://api.upvest.co',
      UPVEST_CLIENT_SECRET: 'not-the-simulators',
    });
    expect([code, stderr]).toEqual([0, '']);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^Upvest simulator with 200 accounts at http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toMatch(new RegExp(`^Database ${db.name}: \\d+ migration\\(s\\) applied$`));
    expect(lines.filter((line) => line.startsWith('sync run '))).toEqual([
      expect.stringMatching(/^sync run 1 succeeded in .*: 200 accounts seen \(200 new, /),
      expect.stringMatching(/^sync run 2 succeeded in /),
    ]);

    const webhooks = lines.indexOf('Changes at Upvest after the second sync, each made once the one before was in the mirror:');
    expect(lines[webhooks - 1]).toMatch(
      /^Webhooks: a receiver at http:\/\/127\.0\.0\.1:\d+\/webhooks\/upvest, subscribed to the simulator's account events \(delay 1s\)$/,
    );
    const changes = lines.slice(webhooks + 1, webhooks + 5).map((line) => {
      const match = /^ {2}(.{28}) {2}(\S+ -> \S+|renamed) +in the mirror after \d+\.\d\d s(?:, status change #(\d+) recorded with source (\w+))?$/.exec(line);
      expect(match, line).not.toBeNull();
      return { what: match![2], changeId: match![3], source: match![4] };
    });
    expect(changes.map((c) => [c.what, c.source])).toEqual([
      ['ACTIVE -> LOCKED', 'webhook'],
      ['PENDING_APPROVAL -> ACTIVE', 'webhook'],
      ['ACTIVE -> CLOSING', 'webhook'],
      ['renamed', undefined],
    ]);
    expect(lines[webhooks + 5]).toBe('(Measured from the change at the simulated Upvest to the commit in the mirror. Upvest collects a');

    // The mirror holds what the lines say: each status change recorded from a webhook event, not a run.
    const prisma = createPrisma(db.url);
    try {
      const recorded = await prisma.$queryRaw<Array<{ id: string; change: string; source: string; event: boolean; run: string | null }>>`
        SELECT id::text, from_status || ' -> ' || to_status AS change, source, webhook_event_id IS NOT NULL AS event, sync_run_id::text AS run
        FROM account_status_changes WHERE source = 'webhook' ORDER BY id`;
      expect(recorded).toEqual(
        changes.slice(0, 3).map((c) => ({ id: c.changeId, change: c.what, source: 'webhook', event: true, run: null })),
      );
      const [renamed] = await prisma.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM accounts WHERE name LIKE '% (renamed)' AND last_webhook_event_id IS NOT NULL`;
      expect(renamed!.n).toBe(1);
    } finally {
      await prisma.$disconnect();
    }
  });

  it('names a bad setting and exits 78', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--accounts', '10'], { DATABASE_URL: db.url, LOG_LEVEL: 'loud' });
    expect([code, stdout]).toEqual([78, '']);
    expect(stderr).toBe('Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace or silent\n');
  });
});
