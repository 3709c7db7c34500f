// The analyst views and the daily function over a scripted history written by the sync
// engine's own writer: three runs with changes, deletions, and two returns after deletion.
import type { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { account, markDeleted, openRun, sqlState, textClient, writeAccounts } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
let sql: Client;

beforeAll(async () => {
  db = await createTestDatabase('analytics_views');
  prisma = createPrisma(db.url);
  sql = await textClient(db.url);
  await sql.query(`SET TIME ZONE 'UTC'`);

  // Run 1 sees six accounts for the first time.
  const run1 = await openRun(prisma);
  await writeAccounts(
    prisma,
    run1,
    [
      account(1, 'PENDING_APPROVAL', '2026-01-01T09:00:00.000001Z'),
      account(2, 'PENDING_APPROVAL', '2026-01-01T10:00:00Z'),
      account(3, 'ACTIVE', '2026-01-02T08:00:00Z'),
      account(4, 'ACTIVE', '2026-01-02T09:00:00Z'),
      account(5, 'ACTIVE', '2026-01-02T12:00:00Z'),
      account(6, 'PENDING_APPROVAL', '2026-01-01T12:00:00Z'),
    ],
    '2026-01-02T13:00:00Z',
  );
  // Run 2: two changes; accounts 4, 5 and 6 are no longer listed and are marked deleted.
  const run2 = await openRun(prisma);
  await writeAccounts(
    prisma,
    run2,
    [
      account(1, 'ACTIVE', '2026-01-03T10:00:00.5Z'),
      account(2, 'PENDING_APPROVAL', '2026-01-01T10:00:00Z'),
      account(3, 'LOCKED', '2026-01-04T00:00:00Z'),
    ],
    '2026-01-04T06:00:00Z',
  );
  for (const n of [4, 5, 6]) await markDeleted(prisma, n, '2026-01-05T00:00:00Z', run2);
  // Run 3: more changes; 4 returns in another status, 5 returns as it was, 6 stays away.
  const run3 = await openRun(prisma);
  await writeAccounts(
    prisma,
    run3,
    [
      account(1, 'ACTIVE', '2026-01-03T10:00:00.5Z'),
      account(2, 'ACTIVE', '2026-01-07T00:00:00Z'),
      account(3, 'ACTIVE', '2026-01-06T00:00:00Z'),
      account(4, 'LOCKED', '2026-01-07T12:00:00Z'),
      account(5, 'ACTIVE', '2026-01-02T12:00:00Z'),
    ],
    '2026-01-08T00:00:00Z',
  );
});

afterAll(async () => {
  await sql?.end();
  await prisma?.$disconnect();
  await db?.drop();
});

const row = (
  n: number,
  status: string,
  validFrom: string,
  validTo: string | null,
  isCurrent: 'true' | 'false',
  previous: string | null,
  run: string,
) => ({ account: n, status, valid_from: validFrom, valid_to: validTo, is_current: isCurrent, previous_status: previous, sync_run_id: run });

describe('account_status_history', () => {
  it('has one row per account and status period, the last one open unless the account is deleted', async () => {
    const { rows } = await sql.query(`
      SELECT right(h.account_id::text, 12)::int AS account, h.status, h.valid_from::text, h.valid_to::text,
             h.is_current::text, h.previous_status, h.sync_run_id::text
      FROM account_status_history h
      ORDER BY h.account_id, h.valid_from, h.change_id`);
    expect(rows.map((r) => ({ ...r, account: Number(r.account) }))).toEqual([
      row(1, 'PENDING_APPROVAL', '2026-01-01 09:00:00.000001+00', '2026-01-03 10:00:00.5+00', 'false', null, '1'),
      row(1, 'ACTIVE', '2026-01-03 10:00:00.5+00', null, 'true', 'PENDING_APPROVAL', '2'),
      row(2, 'PENDING_APPROVAL', '2026-01-01 10:00:00+00', '2026-01-07 00:00:00+00', 'false', null, '1'),
      row(2, 'ACTIVE', '2026-01-07 00:00:00+00', null, 'true', 'PENDING_APPROVAL', '3'),
      row(3, 'ACTIVE', '2026-01-02 08:00:00+00', '2026-01-04 00:00:00+00', 'false', null, '1'),
      row(3, 'LOCKED', '2026-01-04 00:00:00+00', '2026-01-06 00:00:00+00', 'false', 'ACTIVE', '2'),
      row(3, 'ACTIVE', '2026-01-06 00:00:00+00', null, 'true', 'LOCKED', '3'),
      // Deleted on the 5th, back on the 7th in another status: the mirror keeps no record of
      // the absence, so the first period runs until the status change that came with the return.
      row(4, 'ACTIVE', '2026-01-02 09:00:00+00', '2026-01-07 12:00:00+00', 'false', null, '1'),
      row(4, 'LOCKED', '2026-01-07 12:00:00+00', null, 'true', 'ACTIVE', '3'),
      // Deleted on the 5th, back unchanged: one period, as if it had never left.
      row(5, 'ACTIVE', '2026-01-02 12:00:00+00', null, 'true', null, '1'),
      // Deleted and gone: its last period ends at deleted_at.
      row(6, 'PENDING_APPROVAL', '2026-01-01 12:00:00+00', '2026-01-05 00:00:00+00', 'false', null, '1'),
    ]);
  });

  it('has exactly one current period per live account and none for a deleted one', async () => {
    const { rows } = await sql.query(`
      SELECT a.id::text, a.status, a.deleted_at IS NULL AS live, count(h.*) FILTER (WHERE h.is_current)::text AS current,
             max(h.status) FILTER (WHERE h.is_current) AS current_status
      FROM accounts a LEFT JOIN account_status_history h ON h.account_id = a.id
      GROUP BY a.id ORDER BY a.id`);
    for (const r of rows) {
      expect(r.current).toBe(r.live === 't' ? '1' : '0');
      if (r.live === 't') expect(r.current_status).toBe(r.status);
    }
    expect(rows).toHaveLength(6);
  });
});

describe('account_status_counts', () => {
  it('counts live accounts by status', async () => {
    const { rows } = await sql.query(`SELECT status, accounts FROM account_status_counts ORDER BY status`);
    expect(rows).toEqual([
      { status: 'ACTIVE', accounts: '4' },
      { status: 'LOCKED', accounts: '1' },
    ]);
  });
});

describe('account_status_daily', () => {
  const daily = async (from: string, to: string, tz?: string) => {
    const { rows } = tz
      ? await sql.query(`SELECT day::text, status, accounts FROM account_status_daily($1, $2, $3)`, [from, to, tz])
      : await sql.query(`SELECT day::text, status, accounts FROM account_status_daily($1, $2)`, [from, to]);
    return rows.map((r) => `${r.day} ${r.status} ${r.accounts}`);
  };

  it('counts accounts per status at the end of each day, zeros included', async () => {
    expect(await daily('2026-01-01', '2026-01-08')).toEqual([
      '2026-01-01 ACTIVE 0',
      '2026-01-01 LOCKED 0',
      '2026-01-01 PENDING_APPROVAL 3',
      '2026-01-02 ACTIVE 3',
      '2026-01-02 LOCKED 0',
      '2026-01-02 PENDING_APPROVAL 3',
      '2026-01-03 ACTIVE 4',
      '2026-01-03 LOCKED 0',
      '2026-01-03 PENDING_APPROVAL 2',
      '2026-01-04 ACTIVE 3',
      '2026-01-04 LOCKED 1',
      '2026-01-04 PENDING_APPROVAL 2',
      // Account 6 was deleted at midnight; 4 and 5 came back later, so they count throughout.
      '2026-01-05 ACTIVE 3',
      '2026-01-05 LOCKED 1',
      '2026-01-05 PENDING_APPROVAL 1',
      '2026-01-06 ACTIVE 4',
      '2026-01-06 LOCKED 0',
      '2026-01-06 PENDING_APPROVAL 1',
      '2026-01-07 ACTIVE 4',
      '2026-01-07 LOCKED 1',
      '2026-01-07 PENDING_APPROVAL 0',
      '2026-01-08 ACTIVE 4',
      '2026-01-08 LOCKED 1',
      '2026-01-08 PENDING_APPROVAL 0',
    ]);
  });

  it('starts a range in the middle of the history from the right counts', async () => {
    expect(await daily('2026-01-05', '2026-01-06')).toEqual([
      '2026-01-05 ACTIVE 3',
      '2026-01-05 LOCKED 1',
      '2026-01-05 PENDING_APPROVAL 1',
      '2026-01-06 ACTIVE 4',
      '2026-01-06 LOCKED 0',
      '2026-01-06 PENDING_APPROVAL 1',
    ]);
  });

  it('leaves out statuses nobody is in during the range, and is empty before the history', async () => {
    expect(await daily('2026-01-09', '2026-01-10')).toEqual([
      '2026-01-09 ACTIVE 4',
      '2026-01-09 LOCKED 1',
      '2026-01-10 ACTIVE 4',
      '2026-01-10 LOCKED 1',
    ]);
    expect(await daily('2025-12-01', '2025-12-31')).toEqual([]);
    expect(await daily('2026-01-08', '2026-01-07')).toEqual([]);
  });

  it('cuts days in the time zone it is given', async () => {
    // 2026-01-06 in New York ends at 05:00 UTC on the 7th: after account 2 became ACTIVE,
    // before account 4 was LOCKED.
    expect(await daily('2026-01-06', '2026-01-06', 'America/New_York')).toEqual(['2026-01-06 ACTIVE 5']);
  });

  it('agrees with account_status_history on every day', async () => {
    const { rows } = await sql.query(`
      WITH days AS (
        SELECT d::date AS day, ((d::date + 1)::timestamp AT TIME ZONE 'UTC') AS day_end
        FROM generate_series('2025-12-30'::date, '2026-01-10'::date, interval '1 day') d
      ),
      from_history AS (
        SELECT d.day, h.status, count(*) AS accounts
        FROM days d JOIN account_status_history h
          ON h.valid_from < d.day_end AND (h.valid_to IS NULL OR h.valid_to >= d.day_end)
        GROUP BY 1, 2
      ),
      from_function AS (
        SELECT day, status, accounts FROM account_status_daily('2025-12-30', '2026-01-10') WHERE accounts <> 0
      )
      SELECT (SELECT count(*) FROM from_history)::text AS n,
             (SELECT count(*) FROM (SELECT * FROM from_history EXCEPT SELECT * FROM from_function) x)::text AS only_history,
             (SELECT count(*) FROM (SELECT * FROM from_function EXCEPT SELECT * FROM from_history) x)::text AS only_function`);
    expect(rows).toEqual([{ n: '21', only_history: '0', only_function: '0' }]);
  });
});

describe('account_status_changes as a feed', () => {
  it('refuses UPDATE, DELETE and TRUNCATE, so ids are never reused', async () => {
    expect(await sqlState(sql.query(`UPDATE account_status_changes SET to_status = 'X' WHERE id = 1`))).toBe('23001');
    expect(await sqlState(sql.query(`DELETE FROM account_status_changes WHERE id = 1`))).toBe('23001');
    expect(await sqlState(sql.query(`TRUNCATE account_status_changes RESTART IDENTITY CASCADE`))).toBe('23001');
    const { rows } = await sql.query(`SELECT count(*)::text AS n FROM account_status_changes`);
    expect(rows).toEqual([{ n: '11' }]);
  });
});
