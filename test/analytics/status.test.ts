// `account-sync status`: its JSON, its table, and its exit code as a monitoring check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { runStatus } from '../../src/commands/status.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { accountId, LineCapture } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('analytics_status');
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

async function status(args: string[], now: string, env: Record<string, string> = {}) {
  const stdout = new LineCapture();
  const stderr = new LineCapture();
  const code = await runStatus(
    args,
    { env: { DATABASE_URL: db.url, SYNC_INTERVAL_MS: '900000', LOG_LEVEL: 'silent', ...env }, stdout, stderr },
    { now: () => new Date(now) },
  );
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('before any run', () => {
  it('says that no run has succeeded, with exit code 3', async () => {
    const result = await status(['--json'], '2026-01-01T10:00:00Z');
    expect(result.code).toBe(3);
    expect(JSON.parse(result.stdout)).toEqual({
      checked_at: '2026-01-01T10:00:00.000Z',
      state: 'never_succeeded',
      stale: true,
      interval_ms: 900_000,
      stale_after_ms: 1_800_000,
      last_success: null,
      accounts: { live: 0, deleted: 0, by_status: {} },
      runs: [],
    });
    const text = await status([], '2026-01-01T10:00:00Z');
    expect(text.code).toBe(3);
    expect(text.stdout).toBe(
      [
        'WARNING: no sync run has succeeded yet: the mirror is empty or incomplete.',
        '',
        'Live accounts: 0 (0 deleted)',
        '',
        'No sync runs yet.',
      ].join('\n'),
    );
  });
});

describe('with a history of runs', () => {
  beforeAll(async () => {
    await prisma.$executeRaw`
      INSERT INTO sync_runs (mode, status, started_at, finished_at, page_size, accounts_seen, accounts_inserted,
                             accounts_updated, status_changes, deletions, rejected_records, error_code, error)
      VALUES ('full', 'succeeded', '2026-01-01T10:00:00Z', '2026-01-01T10:01:30.5Z', 1000, 1000, 1000, 0, 1000, 0, 2, NULL, NULL),
             ('incremental', 'failed', '2026-01-01T10:15:00Z', '2026-01-01T10:15:05.25Z', 1000, 100, 0, 5, 3, 0, 0,
              'UPVEST_TIMEOUT', 'Upvest did not answer within 30000 ms'),
             ('full', 'succeeded', '2026-01-01T10:30:00Z', '2026-01-01T10:32:00.25Z', 1000, 998, 0, 10, 4, 2, 0, NULL, NULL),
             ('incremental', 'running', '2026-01-01T10:45:00Z', NULL, 1000, 0, 0, 0, 0, 0, 0, NULL, NULL)`;
    // The running run's committed pages so far.
    await prisma.$executeRaw`
      INSERT INTO sync_run_pages (sync_run_id, page_index, page_offset, item_count, total_count, account_ids,
                                  inserted, updated, status_changes, rejected)
      VALUES (4, 0, 0, 100, 150, '{}', 1, 0, 1, 0), (4, 1, 99, 50, 150, '{}', 0, 2, 2, 1)`;
    await prisma.$executeRaw`
      INSERT INTO accounts (id, account_group_id, type, name, status, account_number, created_at, updated_at,
                            first_seen_at, last_seen_at, deleted_at, last_sync_run_id)
      SELECT ('00000000-0000-4000-8000-' || lpad(n::text, 12, '0'))::uuid, '10000000-0000-4000-8000-000000000001',
             'TRADING', 'Account ' || n, s, n, now(), now(), now(), now(), d, 3
      FROM (VALUES (1, 'ACTIVE', NULL::timestamptz), (2, 'ACTIVE', NULL), (3, 'LOCKED', NULL), (4, 'ACTIVE', NULL),
                   (5, 'ACTIVE', '2026-01-01T10:32:00Z')) AS t(n, s, d)`;
    expect(accountId(5)).toBe('00000000-0000-4000-8000-000000000005');
  });

  const runs = [
    {
      id: 4,
      mode: 'incremental',
      status: 'running',
      started_at: '2026-01-01T10:45:00.000000Z',
      finished_at: null,
      duration_ms: 300_000,
      in_progress: true,
      accounts_seen: 149, // the second page repeats the first one's last account
      accounts_written: 3,
      accounts_inserted: 1,
      accounts_updated: 2,
      status_changes: 3,
      deletions: 0,
      rejected_records: 1,
      error_code: null,
      error: null,
    },
    {
      id: 3,
      mode: 'full',
      status: 'succeeded',
      started_at: '2026-01-01T10:30:00.000000Z',
      finished_at: '2026-01-01T10:32:00.250000Z',
      duration_ms: 120_250,
      in_progress: false,
      accounts_seen: 998,
      accounts_written: 10,
      accounts_inserted: 0,
      accounts_updated: 10,
      status_changes: 4,
      deletions: 2,
      rejected_records: 0,
      error_code: null,
      error: null,
    },
    {
      id: 2,
      mode: 'incremental',
      status: 'failed',
      started_at: '2026-01-01T10:15:00.000000Z',
      finished_at: '2026-01-01T10:15:05.250000Z',
      duration_ms: 5_250,
      in_progress: false,
      accounts_seen: 100,
      accounts_written: 5,
      accounts_inserted: 0,
      accounts_updated: 5,
      status_changes: 3,
      deletions: 0,
      rejected_records: 0,
      error_code: 'UPVEST_TIMEOUT',
      error: 'Upvest did not answer within 30000 ms',
    },
    {
      id: 1,
      mode: 'full',
      status: 'succeeded',
      started_at: '2026-01-01T10:00:00.000000Z',
      finished_at: '2026-01-01T10:01:30.500000Z',
      duration_ms: 90_500,
      in_progress: false,
      accounts_seen: 1000,
      accounts_written: 1000,
      accounts_inserted: 1000,
      accounts_updated: 0,
      status_changes: 1000,
      deletions: 0,
      rejected_records: 2,
      error_code: null,
      error: null,
    },
  ];

  it('reports the runs, the accounts and the freshness as JSON, exit code 0 when fresh', async () => {
    const result = await status(['--json'], '2026-01-01T10:50:00Z');
    expect(result).toEqual({ code: 0, stdout: expect.any(String), stderr: '' });
    expect(JSON.parse(result.stdout)).toEqual({
      checked_at: '2026-01-01T10:50:00.000Z',
      state: 'ok',
      stale: false,
      interval_ms: 900_000,
      stale_after_ms: 1_800_000,
      last_success: { run_id: 3, finished_at: '2026-01-01T10:32:00.250000Z', age_ms: 1_079_750 },
      accounts: { live: 4, deleted: 1, by_status: { ACTIVE: 3, LOCKED: 1 } },
      runs,
    });
  });

  it('limits the runs to --runs', async () => {
    const result = await status(['--json', '--runs', '2'], '2026-01-01T10:50:00Z');
    expect(JSON.parse(result.stdout).runs).toEqual(runs.slice(0, 2));
  });

  it('turns stale, with exit code 3, past twice the interval', async () => {
    // Exactly twice the interval after the last success is still fresh; a millisecond later it is not.
    const edge = await status(['--json'], '2026-01-01T11:02:00.25Z');
    expect([edge.code, JSON.parse(edge.stdout).state]).toEqual([0, 'ok']);
    const stale = await status(['--json'], '2026-01-01T11:02:00.251Z');
    expect([stale.code, JSON.parse(stale.stdout).state, JSON.parse(stale.stdout).last_success.age_ms]).toEqual([
      3,
      'stale',
      1_800_001,
    ]);
    // A longer interval moves the threshold.
    const relaxed = await status(['--json'], '2026-01-01T11:02:00.251Z', { SYNC_INTERVAL_MS: '3600000' });
    expect(relaxed.code).toBe(0);
  });

  it('prints a readable table on a terminal', async () => {
    const fresh = await status([], '2026-01-01T10:50:00Z');
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toBe(
      [
        'Mirror is fresh: the last successful run (#3) finished 17m 59s ago (2026-01-01T10:32:00.250000Z); stale after 30m 00s.',
        '',
        'Live accounts: 4 (1 deleted)',
        '  STATUS  ACCOUNTS',
        '  ACTIVE         3',
        '  LOCKED         1',
        '',
        'Last 4 run(s), newest first:',
        '  RUN  MODE         STARTED (UTC)        DURATION  OUTCOME                   SEEN  WRITTEN  CHANGES  DELETED  REJECTED',
        '    4  incremental  2026-01-01 10:45:00    5m 00s  running…                   149        3        3        0         1',
        '    3  full         2026-01-01 10:30:00    2m 00s  succeeded                  998       10        4        2         0',
        '    2  incremental  2026-01-01 10:15:00      5.3s  failed (UPVEST_TIMEOUT)    100        5        3        0         0',
        '    1  full         2026-01-01 10:00:00    1m 30s  succeeded                1,000    1,000    1,000        0         2',
      ].join('\n'),
    );
    const stale = await status([], '2026-01-01T12:00:00Z');
    expect(stale.code).toBe(3);
    expect(stale.stdout.split('\n')[0]).toBe(
      'WARNING: the mirror is stale: the last successful run (#3) finished 1h 27m ago, more than 30m 00s (twice SYNC_INTERVAL_MS) ago.',
    );
  });

  it('rejects bad arguments with exit code 2, and bad settings', async () => {
    expect((await status(['--runs', 'many'], '2026-01-01T10:50:00Z')).code).toBe(2);
    expect((await status(['--bogus'], '2026-01-01T10:50:00Z')).code).toBe(2);
    await expect(status([], '2026-01-01T10:50:00Z', { SYNC_INTERVAL_MS: '5', DATABASE_URL: 'nope' })).rejects.toThrow(
      /DATABASE_URL.*SYNC_INTERVAL_MS|SYNC_INTERVAL_MS.*DATABASE_URL/,
    );
  });
});
