// The cookbook of docs/analysts.md, run verbatim as a read-only role against a fixture history written by
// the sync engine's writer. Events that the questions judge relative to now (the last 24 hours,
// last month) are placed relative to the database's clock; the others at fixed dates.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { escapeIdentifier, type Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COOKBOOK, cookbookQuery } from '../../src/analytics/cookbook.js';
import { grantReadonly } from '../../src/analytics/readonly-role.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { openClient } from '../../src/db/pg-client.js';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/database.js';
import { account, accountId, markDeleted, openRun, textClient, userId, writeAccounts } from './support.js';

const HISTORY_ACCOUNT = '7d0f4c52-0a5e-4f7e-9c1e-2b1a3c4d5e6f';
const role = `as_test_cookbook_${randomBytes(4).toString('hex')}`;

let db: TestDatabase;
let prisma: PrismaClient;
let analyst: Client;
/** Whether the one event placed at the start of this month is also within the last 24 hours. */
let monthStartIsRecent = false;

interface Event {
  n: number;
  status: string;
  at: string;
}

beforeAll(async () => {
  db = await createTestDatabase('analytics_cookbook');
  prisma = createPrisma(db.url);
  const [clock] = await prisma.$queryRaw<Array<{ now: string; month: string; last_month: string; recent: boolean }>>`
    SELECT to_char(date_trunc('second', now()) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS now,
           to_char(date_trunc('month', now() AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS month,
           to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS last_month,
           date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' >= date_trunc('second', now()) - interval '24 hours' AS recent`;
  const T = Date.parse(clock!.now);
  const M = Date.parse(clock!.month);
  const L = Date.parse(clock!.last_month);
  monthStartIsRecent = clock!.recent;
  const hour = 3_600_000;
  const day = 24 * hour;
  const at = (ms: number) => new Date(ms).toISOString();

  const events: Event[] = [
    // Onboarding: PENDING_APPROVAL -> ACTIVE in 1h, 3h, 5h and 2 days; 14 never pending, 15 still pending.
    { n: 10, status: 'PENDING_APPROVAL', at: '2025-01-06T10:00:00Z' },
    { n: 10, status: 'ACTIVE', at: '2025-01-06T11:00:00Z' },
    { n: 11, status: 'PENDING_APPROVAL', at: '2025-01-07T10:00:00Z' },
    { n: 11, status: 'ACTIVE', at: '2025-01-07T13:00:00Z' },
    { n: 12, status: 'PENDING_APPROVAL', at: '2025-01-08T10:00:00Z' },
    { n: 12, status: 'ACTIVE', at: '2025-01-08T15:00:00Z' },
    { n: 13, status: 'PENDING_APPROVAL', at: '2025-01-09T10:00:00Z' },
    { n: 13, status: 'ACTIVE', at: '2025-01-11T10:00:00Z' },
    { n: 14, status: 'ACTIVE', at: '2025-01-10T10:00:00Z' },
    { n: 15, status: 'PENDING_APPROVAL', at: '2025-01-12T10:00:00Z' },
    // Closures: two in the week of Monday 2025-03-03 (one first seen closed), one the next week.
    { n: 20, status: 'ACTIVE', at: '2025-02-20T10:00:00Z' },
    { n: 20, status: 'CLOSING', at: '2025-03-01T10:00:00Z' },
    { n: 20, status: 'CLOSED', at: '2025-03-04T10:00:00Z' },
    { n: 21, status: 'CLOSED', at: '2025-03-09T23:59:59Z' },
    { n: 22, status: 'ACTIVE', at: '2025-03-01T10:00:00Z' },
    { n: 22, status: 'CLOSED', at: '2025-03-10T00:00:00Z' },
    // LOCKED around last month [L, M).
    { n: 30, status: 'ACTIVE', at: at(L - 40 * day) }, // locked across L: yes
    { n: 30, status: 'LOCKED', at: at(L - 10 * day) },
    { n: 30, status: 'ACTIVE', at: at(L + 2 * day) },
    { n: 31, status: 'ACTIVE', at: at(L - 40 * day) }, // locked since the last day of last month: yes
    { n: 31, status: 'LOCKED', at: at(M - day) },
    { n: 32, status: 'ACTIVE', at: at(L - 40 * day) }, // unlocked exactly at L: no
    { n: 32, status: 'LOCKED', at: at(L - 20 * day) },
    { n: 32, status: 'ACTIVE', at: at(L) },
    { n: 33, status: 'ACTIVE', at: at(L - 40 * day) }, // locked exactly at M: no
    { n: 33, status: 'LOCKED', at: at(M) },
    { n: 34, status: 'ACTIVE', at: at(L - 40 * day) }, // locked, then deleted, within last month: yes
    { n: 34, status: 'LOCKED', at: at(L + 5 * day) },
    { n: 35, status: 'ACTIVE', at: at(L - 40 * day) }, // locked and unlocked before: no
    { n: 35, status: 'LOCKED', at: at(L - 30 * day) },
    { n: 35, status: 'ACTIVE', at: at(L - 20 * day) },
    { n: 36, status: 'LOCKED', at: at(L - 40 * day) }, // deleted while locked, before L: no
    // The last 24 hours.
    { n: 40, status: 'ACTIVE', at: at(T - 30 * hour) },
    { n: 40, status: 'CLOSING', at: at(T - 3 * hour) },
    { n: 41, status: 'PENDING_APPROVAL', at: at(T - hour) },
    { n: 42, status: 'ACTIVE', at: at(T - 50 * hour) },
    { n: 42, status: 'CLOSING', at: at(T - 23 * hour) },
    // One account's whole history.
    { n: 0, status: 'PENDING_APPROVAL', at: '2025-05-01T08:00:00Z' },
    { n: 0, status: 'ACTIVE', at: '2025-05-02T09:30:00Z' },
    { n: 0, status: 'LOCKED', at: '2025-06-01T00:00:00Z' },
    { n: 0, status: 'ACTIVE', at: '2025-06-03T12:00:00.123456Z' },
  ];
  const owners: Record<number, Array<{ id: string; type: string }>> = {
    10: [{ id: userId(901), type: 'OWNER' }],
    11: [{ id: userId(901), type: 'OWNER' }],
    20: [{ id: userId(901), type: 'OWNER' }],
    30: [{ id: userId(902), type: 'OWNER' }],
    34: [{ id: userId(902), type: 'OWNER' }],
    12: [{ id: userId(903), type: 'OWNER' }],
    13: [{ id: userId(903), type: 'OWNER' }],
    // A user linked to several accounts, but not as their owner.
    14: [{ id: userId(14), type: 'OWNER' }, { id: userId(904), type: 'TRUSTEE' }],
    15: [{ id: userId(15), type: 'OWNER' }, { id: userId(904), type: 'TRUSTEE' }],
  };
  const run = await openRun(prisma);
  for (const event of [...events].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))) {
    const record = account(event.n, event.status, event.at, {
      ...(event.n === 0 ? { id: HISTORY_ACCOUNT } : {}),
      ...(owners[event.n] ? { users: owners[event.n] } : {}),
    });
    await writeAccounts(prisma, run, [record], at(Date.parse(event.at) + 60_000));
  }
  await markDeleted(prisma, 34, at(L + 6 * day), run);
  await markDeleted(prisma, 36, at(L - day), run);

  // The analyst: a read-only role, as `account-sync grant-readonly --login` makes it.
  await grantReadonly(prisma, { role, schema: 'public', login: true });
  analyst = await textClient(db.url, { user: role });
  // Only how timestamps print; every boundary in the queries is UTC already.
  await analyst.query(`SET TIME ZONE 'UTC'`);
});

afterAll(async () => {
  await analyst?.end();
  await prisma?.$disconnect();
  await db?.drop();
  const admin = await openClient(ADMIN_DATABASE_URL, 'cookbook test admin');
  try {
    await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
  } finally {
    await admin.end();
  }
});

async function answer(id: string): Promise<Array<Record<string, string | null>>> {
  return (await analyst.query(cookbookQuery(id).sql)).rows;
}

describe('the cookbook, as the read-only role', () => {
  it('accounts by status now', async () => {
    expect(await answer('accounts_by_status_now')).toEqual([
      { status: 'ACTIVE', accounts: '9' },
      { status: 'CLOSED', accounts: '3' },
      { status: 'CLOSING', accounts: '2' },
      { status: 'LOCKED', accounts: '2' },
      { status: 'PENDING_APPROVAL', accounts: '2' },
    ]);
  });

  it('status changes in the last 24 hours', async () => {
    expect(await answer('changes_last_24_hours')).toEqual([
      { from_status: 'ACTIVE', to_status: 'CLOSING', changes: '2' },
      { from_status: '(new)', to_status: 'PENDING_APPROVAL', changes: '1' },
      // Account 33 was locked at midnight on the 1st, which is recent on the 1st of a month.
      ...(monthStartIsRecent ? [{ from_status: 'ACTIVE', to_status: 'LOCKED', changes: '1' }] : []),
    ]);
  });

  it('median time from PENDING_APPROVAL to ACTIVE', async () => {
    // 1h, 3h, 5h, 25h 30m and 2 days.
    expect(await answer('median_onboarding_time')).toEqual([{ onboarded_accounts: '5', median_time_to_active: '05:00:00' }]);
  });

  it('accounts closed per week', async () => {
    expect(await answer('accounts_closed_per_week')).toEqual([
      { week_starting: '2025-03-03', accounts_closed: '2' },
      { week_starting: '2025-03-10', accounts_closed: '1' },
    ]);
  });

  it('accounts that were LOCKED at any time last month', async () => {
    expect(await answer('locked_last_month')).toEqual([{ account_id: accountId(30) }, { account_id: accountId(31) }, { account_id: accountId(34) }]);
  });

  it('users who own several live accounts', async () => {
    expect(await answer('users_with_several_accounts')).toEqual([
      { user_id: userId(901), accounts: '3', account_numbers: '{10,11,20}' },
      { user_id: userId(903), accounts: '2', account_numbers: '{12,13}' },
    ]);
  });

  it('a daily trend over the last 30 days, ending with the counts of now', async () => {
    const rows = await answer('daily_trend_last_30_days');
    const days = [...new Set(rows.map((r) => r.day))];
    expect(days).toHaveLength(30);
    expect(rows).toHaveLength(30 * 5);
    const today = rows.filter((r) => r.day === days.at(-1)).map((r) => [r.status, r.accounts]);
    expect(today).toEqual([
      ['ACTIVE', '9'],
      ['CLOSED', '3'],
      ['CLOSING', '2'],
      ['LOCKED', '2'],
      ['PENDING_APPROVAL', '2'],
    ]);
  });

  it('the status history of one account', async () => {
    expect(await answer('history_of_one_account')).toEqual([
      { status: 'PENDING_APPROVAL', valid_from: '2025-05-01 08:00:00+00', valid_to: '2025-05-02 09:30:00+00', is_current: 'f' },
      { status: 'ACTIVE', valid_from: '2025-05-02 09:30:00+00', valid_to: '2025-06-01 00:00:00+00', is_current: 'f' },
      { status: 'LOCKED', valid_from: '2025-06-01 00:00:00+00', valid_to: '2025-06-03 12:00:00.123456+00', is_current: 'f' },
      { status: 'ACTIVE', valid_from: '2025-06-03 12:00:00.123456+00', valid_to: null, is_current: 't' },
    ]);
  });

  it('covers every query of the cookbook', () => {
    expect(COOKBOOK.map((q) => q.id)).toEqual([
      'accounts_by_status_now',
      'changes_last_24_hours',
      'median_onboarding_time',
      'accounts_closed_per_week',
      'locked_last_month',
      'users_with_several_accounts',
      'daily_trend_last_30_days',
      'history_of_one_account',
    ]);
  });
});

describe('docs/analysts.md', () => {
  const docs = readFileSync(new URL('../../docs/analysts.md', import.meta.url), 'utf8');
  it.each(COOKBOOK.map((q) => [q.id, q] as const))('quotes the %s query verbatim, with its question', (_id, query) => {
    expect(docs).toContain(`\`\`\`sql\n${query.sql}\n\`\`\``);
    expect(docs).toContain(query.question);
  });
});
