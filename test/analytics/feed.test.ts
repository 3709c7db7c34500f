// The change feed: `account-sync changes` output, NOTIFY, following, and the ordering guarantee
// under concurrent writers.
import { Client } from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FEED_CHANNEL } from '../../src/db/feed.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { openClient } from '../../src/db/pg-client.js';
import { silentLogger } from '../../src/logger.js';
import { followChanges } from '../../src/analytics/follow.js';
import type { FeedChange } from '../../src/analytics/feed.js';
import { runChanges } from '../../src/commands/changes.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { account, accountId, Collected, LineCapture, openRun, writeAccounts } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
let run1: bigint;

beforeAll(async () => {
  db = await createTestDatabase('analytics_feed');
  prisma = createPrisma(db.url, { poolSize: 12 });
  run1 = await openRun(prisma);
  // One account per page, so that ids follow the order of the calls.
  await writeAccounts(prisma, run1, [account(1, 'PENDING_APPROVAL', '2026-01-01T09:00:00.000001Z')], '2026-01-02T13:00:00Z');
  await writeAccounts(prisma, run1, [account(2, 'ACTIVE', '2026-01-01T10:00:00Z')], '2026-01-02T13:00:00.25Z');
  const run2 = await openRun(prisma);
  await writeAccounts(prisma, run2, [account(1, 'ACTIVE', '2026-01-03T10:00:00.5Z')], '2026-01-04T06:00:00Z');
});

// A follower left running by a failed test must not disturb the next ones.
const controllers: AbortController[] = [];
function stopper(): AbortController {
  const controller = new AbortController();
  controllers.push(controller);
  return controller;
}
afterEach(() => {
  for (const controller of controllers.splice(0)) controller.abort();
});

afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

async function changes(args: string[], signal = new AbortController().signal) {
  const stdout = new LineCapture();
  const stderr = new LineCapture();
  const code = await runChanges(args, { env: { DATABASE_URL: db.url, LOG_LEVEL: 'silent' }, stdout, stderr }, { signal });
  return { code, stdout: stdout.lines, stderr: stderr.lines };
}

const line1 =
  '{"id":1,"account_id":"00000000-0000-4000-8000-000000000001","from_status":null,"to_status":"PENDING_APPROVAL",' +
  '"changed_at":"2026-01-01T09:00:00.000001Z","observed_at":"2026-01-02T13:00:00.000000Z","source":"sync","sync_run_id":1,"webhook_event_id":null}';
const line2 =
  '{"id":2,"account_id":"00000000-0000-4000-8000-000000000002","from_status":null,"to_status":"ACTIVE",' +
  '"changed_at":"2026-01-01T10:00:00.000000Z","observed_at":"2026-01-02T13:00:00.250000Z","source":"sync","sync_run_id":1,"webhook_event_id":null}';
const line3 =
  '{"id":3,"account_id":"00000000-0000-4000-8000-000000000001","from_status":"PENDING_APPROVAL","to_status":"ACTIVE",' +
  '"changed_at":"2026-01-03T10:00:00.500000Z","observed_at":"2026-01-04T06:00:00.000000Z","source":"sync","sync_run_id":2,"webhook_event_id":null}';

describe('account-sync changes', () => {
  it('prints the feed as JSON lines, timestamps at full precision', async () => {
    expect(await changes(['--json'])).toEqual({ code: 0, stdout: [line1, line2, line3], stderr: [] });
  });

  it('starts after --since and stops at --limit', async () => {
    expect(await changes(['--json', '--since', '1'])).toEqual({ code: 0, stdout: [line2, line3], stderr: [] });
    expect(await changes(['--json', '--since', '1', '--limit', '1'])).toEqual({ code: 0, stdout: [line2], stderr: [] });
    expect(await changes(['--json', '--since', '3'])).toEqual({ code: 0, stdout: [], stderr: [] });
  });

  it('prints one line per change for people, and where to continue from', async () => {
    expect(await changes(['--since', '1'])).toEqual({
      code: 0,
      stdout: [
        '2\t2026-01-01T10:00:00.000000Z\t00000000-0000-4000-8000-000000000002\t(new) -> ACTIVE\trun 1',
        '3\t2026-01-03T10:00:00.500000Z\t00000000-0000-4000-8000-000000000001\tPENDING_APPROVAL -> ACTIVE\trun 2',
      ],
      stderr: ['-- 2 change(s); continue with --since 3'],
    });
  });

  it('rejects bad arguments with exit code 2', async () => {
    for (const args of [['--since', 'abc'], ['--since', '-1'], ['--limit', '0'], ['--bogus'], ['extra']]) {
      const result = await changes(args);
      expect(result.code).toBe(2);
      expect(result.stdout).toEqual([]);
      expect(result.stderr.at(-1)).toBe('usage: account-sync changes [--since <id>] [--json] [--follow] [--limit N] [--fields]');
    }
  });
});

describe('NOTIFY', () => {
  it('reaches a listening client when a page with status changes commits', async () => {
    const listener = await openClient(db.url, 'feed test listener');
    try {
      await listener.query(`LISTEN ${FEED_CHANNEL}`);
      const heard = new Promise<{ channel: string; payload?: string }>((resolve) => listener.once('notification', resolve));
      const run = await openRun(prisma);
      await writeAccounts(prisma, run, [account(3, 'PENDING_APPROVAL', '2026-01-05T00:00:00Z')], '2026-01-05T01:00:00Z');
      const notification = await heard;
      const [latest] = await prisma.$queryRaw<Array<{ id: string }>>`SELECT max(id)::text AS id FROM account_status_changes`;
      expect(notification.channel).toBe('account_status_changes');
      expect(JSON.parse(notification.payload ?? '')).toEqual({ source: 'sync', sync_run_id: String(run), max_id: latest!.id, count: 1 });
    } finally {
      await listener.end();
    }
  });
});

async function allIds(): Promise<string[]> {
  const rows = await prisma.$queryRaw<Array<{ id: string }>>`SELECT c.id::text AS id FROM account_status_changes c ORDER BY c.id`;
  return rows.map((r) => r.id);
}

let nextAccount = 100;
/** A page of `size` accounts seen for the first time: `size` status changes. */
async function writeNewAccounts(run: bigint, size: number): Promise<void> {
  const accounts = Array.from({ length: size }, () => account(nextAccount++, 'PENDING_APPROVAL', '2026-02-01T00:00:00Z'));
  await writeAccounts(prisma, run, accounts, '2026-02-01T00:00:01Z');
}

describe('account-sync changes --follow', () => {
  it('prints the backlog, then each change as it commits, and stops cleanly when aborted', async () => {
    const stdout = new LineCapture();
    const stderr = new LineCapture();
    const abort = stopper();
    const before = await allIds();
    const following = runChanges(
      ['--follow', '--json', '--since', '2'],
      { env: { DATABASE_URL: db.url, LOG_LEVEL: 'silent' }, stdout, stderr },
      { signal: abort.signal, safetyIntervalMs: 3_600_000 },
    );
    await stdout.waitForLines(before.length - 2);
    const run = await openRun(prisma);
    await writeNewAccounts(run, 2);
    await stdout.waitForLines(before.length);
    await writeNewAccounts(run, 3);
    await stdout.waitForLines(before.length + 3);
    abort.abort();
    expect(await following).toBe(0);
    const ids = stdout.lines.map((line) => String(JSON.parse(line).id));
    expect(ids).toEqual((await allIds()).filter((id) => BigInt(id) > 2n));
    expect(stdout.lines[0]).toBe(line3);
    expect(stderr.lines).toEqual([]);
  });

  it('stops by itself after --limit changes', async () => {
    const result = await changes(['--follow', '--json', '--since', '0', '--limit', '2']);
    expect(result).toEqual({ code: 0, stdout: [line1, line2], stderr: [] });
  });

  it('falls back to re-reading periodically when it cannot LISTEN', async () => {
    const seen = new Collected<FeedChange>();
    const abort = stopper();
    const start = (await allIds()).at(-1)!;
    const states = new Collected<boolean>();
    const following = followChanges(
      {
        prisma,
        connect: () => Promise.reject(new Error('no LISTEN for you')),
        logger: silentLogger(),
        emit: (change) => seen.push(change),
      },
      { since: BigInt(start), signal: abort.signal, safetyIntervalMs: 20, onCaughtUp: (s) => states.push(s.listening) },
    );
    // Only once it has read the feed to its end, so that the change can only come by re-reading.
    await states.waitFor(1);
    await writeNewAccounts(await openRun(prisma), 1);
    await seen.waitFor(1);
    abort.abort();
    expect(await following).toEqual({ cursor: BigInt(seen.items[0]!.id), emitted: 1 });
    expect(states.items.every((listening) => !listening)).toBe(true);
  });

  it('re-establishes LISTEN after losing its connection, missing nothing', async () => {
    const seen = new Collected<string>();
    const abort = stopper();
    const start = (await allIds()).at(-1)!;
    let listening: () => void = () => undefined;
    let listeningAgain = new Promise<void>((resolve) => (listening = resolve));
    let connections = 0;
    const following = followChanges(
      {
        prisma,
        connect: async () => {
          connections += 1;
          return openClient(db.url, `feed test follower ${connections}`);
        },
        logger: silentLogger(),
        emit: (change) => seen.push(change.id),
      },
      {
        since: BigInt(start),
        signal: abort.signal,
        safetyIntervalMs: 50,
        onCaughtUp: (s) => {
          if (s.listening) listening();
        },
      },
    );
    await listeningAgain;
    const run = await openRun(prisma);
    await writeNewAccounts(run, 1);
    await seen.waitFor(1);
    // The server ends the listening session; the next changes still arrive, and LISTEN is back.
    listeningAgain = new Promise<void>((resolve) => (listening = resolve));
    await prisma.$executeRaw`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'feed test follower 1'`;
    await writeNewAccounts(run, 2);
    await seen.waitFor(3);
    await listeningAgain;
    expect(connections).toBe(2);
    await writeNewAccounts(run, 1);
    await seen.waitFor(4);
    abort.abort();
    await following;
    expect(seen.items).toEqual((await allIds()).filter((id) => BigInt(id) > BigInt(start)));
  });
});

describe('the feed under concurrent writers', () => {
  it('shows every change exactly once and in id order to consumers reading by cursor', async () => {
    const start = BigInt((await allIds()).at(-1)!);
    const followed = new Collected<bigint>();
    const abort = stopper();
    const following = followChanges(
      { prisma, connect: () => openClient(db.url, 'feed test concurrent'), logger: silentLogger(), emit: (c) => followed.push(BigInt(c.id)) },
      { since: start, signal: abort.signal, safetyIntervalMs: 5, batchSize: 7 },
    );
    // A second consumer that only polls, as fast as it can, the way a naive job would.
    const polled: bigint[] = [];
    let writing = true;
    const poller = (async () => {
      let cursor = start;
      for (;;) {
        const done = !writing;
        const rows = await prisma.$queryRaw<Array<{ id: bigint }>>`
          SELECT id FROM account_status_changes WHERE id > ${cursor} ORDER BY id`;
        for (const row of rows) polled.push(row.id);
        if (rows.length > 0) cursor = rows.at(-1)!.id;
        if (done) return;
      }
    })();

    const writers = 6;
    const pagesEach = 8;
    const runs = await Promise.all(Array.from({ length: writers }, () => openRun(prisma)));
    await Promise.all(
      runs.map(async (run) => {
        for (let page = 0; page < pagesEach; page++) await writeNewAccounts(run, 1 + (page % 4));
      }),
    );
    writing = false;
    await poller;
    const expected = (await allIds()).map(BigInt).filter((id) => id > start);
    expect(expected).toHaveLength(writers * (2 * (1 + 2 + 3 + 4)));
    await followed.waitFor(expected.length);
    abort.abort();
    await following;
    expect(followed.items).toEqual(expected);
    expect(polled).toEqual(expected);
  });
});

describe('why the feed is safe to read by cursor', () => {
  async function session(): Promise<Client> {
    return openClient(db.url, 'feed test session');
  }
  const insertChange = (client: Client, n: number) =>
    client.query<{ id: string }>(
      `INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id)
       VALUES ($1, NULL, 'PENDING_APPROVAL', now(), now(), $2) RETURNING id::text`,
      [accountId(n), String(run1)],
    );
  const visibleAfter = async (cursor: string) =>
    (await prisma.$queryRaw<Array<{ id: string }>>`
      SELECT c.id::text AS id FROM account_status_changes c WHERE c.id > ${cursor}::bigint ORDER BY c.id`).map((r) => r.id);
  /** Waits until `pid` waits for a lock. Polled: PostgreSQL has no event for it. */
  async function blockedOnLock(pid: number): Promise<void> {
    for (;;) {
      const [row] = await prisma.$queryRaw<Array<{ waiting: boolean }>>`
        SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) AS waiting FROM pg_stat_activity WHERE pid = ${pid}`;
      if (row?.waiting) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('holds a second writer until the first commits, so ids become visible in order', async () => {
    const first = await session();
    const second = await session();
    try {
      const cursor = (await allIds()).at(-1)!;
      await first.query('BEGIN');
      const a = (await insertChange(first, 1)).rows[0]!.id;
      const [{ pid }] = (await second.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
      const secondInsert = insertChange(second, 2);
      await blockedOnLock(pid);
      expect(await visibleAfter(cursor)).toEqual([]);
      await first.query('COMMIT');
      const b = (await secondInsert).rows[0]!.id;
      expect(BigInt(b)).toBeGreaterThan(BigInt(a));
      expect(await visibleAfter(cursor)).toEqual([a, b]);
    } finally {
      await first.end();
      await second.end();
    }
  });

  it('without the lock, a consumer reading by cursor would skip a change that commits late', async () => {
    const owner = await session();
    const first = await session();
    const second = await session();
    await owner.query('ALTER TABLE account_status_changes DISABLE TRIGGER account_status_changes_feed_lock');
    try {
      let cursor = (await allIds()).at(-1)!;
      await first.query('BEGIN');
      const a = (await insertChange(first, 1)).rows[0]!.id;
      const b = (await insertChange(second, 2)).rows[0]!.id;
      expect(BigInt(a)).toBeLessThan(BigInt(b));
      // The consumer sees b, moves its cursor there...
      expect(await visibleAfter(cursor)).toEqual([b]);
      cursor = b;
      // ...and never sees a, committed afterwards with a smaller id.
      await first.query('COMMIT');
      expect(await visibleAfter(cursor)).toEqual([]);
    } finally {
      await owner.query('ALTER TABLE account_status_changes ENABLE TRIGGER account_status_changes_feed_lock');
      await Promise.all([owner.end(), first.end(), second.end()]);
    }
  });
});
