// `account-sync status`: its JSON, its table, and its exit code as a monitoring check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { runStatus } from '../../src/commands/status.js';
import { LAG_SAMPLE } from '../../src/webhooks/lag-report.js';
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
      webhooks: null,
      deferred_indexes: null,
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
      webhooks: null,
      deferred_indexes: null,
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

describe('once webhook events are stored', () => {
  const NOW = '2026-01-01T10:50:00Z';
  let n = 0;
  /** Stores events as the receiver and the applier leave them; timestamps UTC with microseconds. */
  async function storeEvents(events: Array<{ type: string; created: string; outcome?: string; processed?: string; reason?: string }>) {
    const rows = events.map((e) => ({ ...e, key: `event-${++n}`, id: `30000000-0000-4000-8000-${String(n).padStart(12, '0')}` }));
    await prisma.$executeRaw`
      INSERT INTO webhook_events (dedupe_key, event_id, type, object_id, created_at_raw, created_at, created_at_nanos, raw,
                                  key_id, received_at, last_received_at, outcome, reason, processed_at)
      SELECT e.key, e.id, e.type, ${accountId(3)}, e.created, e.created, 0, '{}'::jsonb,
             'key-1', e.created, e.created, e.outcome, e.reason, e.processed
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS e(key text, id uuid, type text, created timestamptz,
                                                                   outcome text, reason text, processed timestamptz)`;
    return rows.map((row) => row.id);
  }

  it('shows what is pending before anything was applied', async () => {
    await storeEvents([{ type: 'ACCOUNT.UPDATED', created: '2026-01-01T10:49:50Z' }]);
    const result = await status(['--json'], NOW);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).webhooks).toEqual({
      last_applied: null,
      last_hour: { applied: 0, lag_p50_ms: null, lag_p95_ms: null, lag_max_ms: null },
      pending: { events: 1, oldest_created_at: '2026-01-01T10:49:50.000000Z', oldest_age_ms: 10_000 },
      rejected_last_hour: { events: 0, not_ours: 0 },
    });
    expect((await status([], NOW)).stdout.split('\n').slice(1, 5)).toEqual([
      '',
      'Webhooks: no event has been applied yet.',
      '  Last hour: no event applied.',
      '  Pending: 1 event(s), the oldest created 10.0s ago.',
    ]);
  });

  it('reports the last event applied, the lag over the last hour and the pending events, as JSON and as text', async () => {
    const ids = await storeEvents([
      // Applied more than an hour ago: not in the last hour's figures.
      { type: 'ACCOUNT.CREATED', created: '2026-01-01T09:00:00Z', outcome: 'applied', processed: '2026-01-01T09:45:00Z' },
      { type: 'ACCOUNT.UPDATED', created: '2026-01-01T10:20:00Z', outcome: 'applied', processed: '2026-01-01T10:20:00.8Z' },
      { type: 'ACCOUNT.LOCKED', created: '2026-01-01T10:30:00Z', outcome: 'applied', processed: '2026-01-01T10:30:01.2Z' },
      { type: 'ACCOUNT.UPDATED', created: '2026-01-01T10:40:00Z', outcome: 'applied', processed: '2026-01-01T10:40:04Z' },
      // Two applied in one transaction: the later one (by created_at) is the last applied.
      { type: 'ACCOUNT.ACTIVATED', created: '2026-01-01T10:49:56Z', outcome: 'applied', processed: '2026-01-01T10:49:59Z' },
      { type: 'ACCOUNT.LOCKED', created: '2026-01-01T10:49:57.5Z', outcome: 'applied', processed: '2026-01-01T10:49:59Z' },
      // Processed later, but not applied: neither the last applied nor in the lags.
      { type: 'ACCOUNT.LOCKED', created: '2026-01-01T10:49:58Z', outcome: 'duplicate', processed: '2026-01-01T10:49:59.5Z' },
      { type: 'WEBHOOK.TEST', created: '2026-01-01T10:49:58Z', outcome: 'ignored', processed: '2026-01-01T10:49:59.5Z' },
      { type: 'ACCOUNT.UPDATED', created: '2026-01-01T10:49:55.25Z' },
      // Rejected: one not from our subscriptions and one unusable within the hour, one before it.
      { type: 'ACCOUNT.CLOSED', created: '2026-01-01T10:49:40Z', outcome: 'rejected', processed: '2026-01-01T10:49:59.6Z', reason: 'not one of our subscriptions: webhook_id "b7" is not listed by GET /webhooks' },
      { type: 'ACCOUNT.UPDATED', created: '2026-01-01T10:10:00Z', outcome: 'rejected', processed: '2026-01-01T10:10:00Z', reason: 'object: status must be one of …' },
      { type: 'ACCOUNT.CLOSED', created: '2026-01-01T09:40:00Z', outcome: 'rejected', processed: '2026-01-01T09:40:01Z', reason: 'not one of our subscriptions: webhook_id "b7" is not listed by GET /webhooks' },
    ]);
    const result = await status(['--json'], NOW);
    expect(JSON.parse(result.stdout).webhooks).toEqual({
      last_applied: {
        event_id: ids[5],
        type: 'ACCOUNT.LOCKED',
        account_id: accountId(3),
        created_at: '2026-01-01T10:49:57.500000Z',
        processed_at: '2026-01-01T10:49:59.000000Z',
        lag_ms: 1_500,
        age_ms: 1_000,
      },
      // Lags 800, 1200, 4000, 3000, 1500 ms.
      last_hour: { applied: 5, lag_p50_ms: 1_500, lag_p95_ms: 4_000, lag_max_ms: 4_000 },
      pending: { events: 2, oldest_created_at: '2026-01-01T10:49:50.000000Z', oldest_age_ms: 10_000 },
      rejected_last_hour: { events: 2, not_ours: 1 },
    });
    const text = await status([], NOW);
    expect(text.code).toBe(0);
    expect(text.stdout.split('\n').slice(0, 7)).toEqual([
      'Mirror is fresh: the last successful run (#3) finished 17m 59s ago (2026-01-01T10:32:00.250000Z); stale after 30m 00s.',
      '',
      'Webhooks: the last event applied (ACCOUNT.LOCKED, 1.0s ago at 2026-01-01T10:49:59.000000Z) reached the mirror 1.5s after Upvest created it.',
      '  Last hour: 5 event(s) applied, lag p50 1.5s, p95 4.0s, max 4.0s.',
      '  Pending: 2 event(s), the oldest created 10.0s ago.',
      '  Rejected in the last hour: 2 event(s), 1 of them not from our subscriptions.',
      '',
    ]);
    // An hour later nothing was applied within the hour; the last event applied stays.
    const later = JSON.parse((await status(['--json'], '2026-01-01T11:50:00Z')).stdout).webhooks;
    expect([later.last_applied.age_ms, later.last_hour]).toEqual([3_601_000, { applied: 0, lag_p50_ms: null, lag_p95_ms: null, lag_max_ms: null }]);
  });

  it(`takes the last hour's lags from its newest ${LAG_SAMPLE} events, and counts them all`, async () => {
    // 13:10: 100 events applied a minute late; from 13:30 on, 10,000 applied a second late.
    await prisma.$executeRaw`
      INSERT INTO webhook_events (dedupe_key, event_id, type, created_at_raw, created_at, created_at_nanos, raw, key_id,
                                  received_at, last_received_at, outcome, processed_at)
      SELECT 'bulk-' || g, gen_random_uuid(), 'ACCOUNT.UPDATED', '', t - lag, 0, '{}'::jsonb, 'key-1', t, t, 'applied', t
      FROM generate_series(1, 10100) g,
           LATERAL (SELECT CASE WHEN g <= 100 THEN timestamptz '2026-01-01T13:10:00Z' + g * interval '1 ms'
                                ELSE timestamptz '2026-01-01T13:30:00Z' + g * interval '100 ms' END AS t,
                           CASE WHEN g <= 100 THEN interval '60 seconds' ELSE interval '1 second' END AS lag) x`;
    const result = JSON.parse((await status(['--json'], '2026-01-01T14:00:00Z')).stdout).webhooks;
    expect([result.last_applied.lag_ms, result.last_hour]).toEqual([
      1_000,
      { applied: 10_100, lag_p50_ms: 1_000, lag_p95_ms: 1_000, lag_max_ms: 1_000 },
    ]);
  });
});

describe('while a first sync has its secondary indexes dropped', () => {
  afterAll(async () => {
    await prisma.$executeRaw`DELETE FROM sync_deferred_indexes`;
  });

  it('names them, the run and when, in the JSON and the text', async () => {
    await prisma.$executeRaw`
      INSERT INTO sync_deferred_indexes (index_name, table_name, definition, sync_run_id, deferred_at)
      VALUES ('accounts_created_at_idx', 'accounts', 'CREATE INDEX ...', 3, '2026-01-01T14:00:00.5Z'),
             ('account_users_user_id_idx', 'account_users', 'CREATE INDEX ...', 3, '2026-01-01T14:00:00.5Z')`;
    const json = JSON.parse((await status(['--json'], '2026-01-01T14:01:00Z')).stdout).deferred_indexes;
    expect(json).toEqual({
      run_id: 3,
      deferred_at: '2026-01-01T14:00:00.500000Z',
      indexes: ['account_users_user_id_idx', 'accounts_created_at_idx'],
    });
    const text = (await status([], '2026-01-01T14:01:00Z')).stdout.split('\n');
    expect(text.filter((line) => line.startsWith('Secondary indexes'))).toEqual([
      'Secondary indexes not built yet: 2 dropped at 2026-01-01T14:00:00.500000Z by run #3, the first sync of an empty mirror, ' +
        'which builds them when its walk ends (or the next run does, first): account_users_user_id_idx, accounts_created_at_idx. ' +
        'Queries that would use them are slower until then.',
    ]);
  });
});
