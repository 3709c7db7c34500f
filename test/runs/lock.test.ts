// The run lock (a PostgreSQL session advisory lock) and what runs under it: `sync` by hand
// while another run holds it, and the runs that dead or stopped processes left behind.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, type RunLock } from '../../src/runs/lock.js';
import { openClient } from '../../src/db/pg-client.js';
import { silentLogger } from '../../src/logger.js';
import { runGuarded } from '../../src/sync/guarded.js';
import { loadCommandConfig } from '../../src/config/index.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import { pollUntil, runRows, spawnCli } from '../support/daemon.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

let h: Harness;

// A database of its own for each test: they count runs, and the advisory lock is per database.
beforeEach(async () => {
  h = await startHarness('daemon_run_lock', { accounts: 800, seed: 12 });
});
afterEach(() => h?.close());

async function hold(name: string): Promise<RunLock> {
  const attempt = await acquireRunLock(h.db.url, { applicationName: name, waitMs: 0 });
  if (!attempt.acquired) throw new Error('expected to get the lock');
  return attempt.lock;
}

/** A run stopped after `pages` pages, as a SIGTERM leaves it; `crashed` makes it look killed instead. */
async function leaveRun(pages: number, crashed: boolean): Promise<bigint> {
  const stop = new AbortController();
  const summary = await h.sync({
    env: { SYNC_CONCURRENCY: '1' },
    signal: stop.signal,
    onProgress: (p) => {
      if (p.pagesDone === pages) stop.abort(new Error('test stop'));
    },
  });
  expect(summary.status).toBe('interrupted');
  if (crashed) await h.prisma.syncRun.update({ where: { id: summary.runId }, data: { status: 'running', finishedAt: null } });
  return summary.runId;
}

function guarded() {
  const config = loadCommandConfig('sync', h.env);
  const logger = silentLogger();
  return runGuarded(
    { prisma: h.prisma, client: createUpvestClientFromConfig(config.upvest, { logger }), logger, databaseUrl: h.db.url, applicationName: 'test' },
    { pageSize: 100, concurrency: 2, maxPages: 100_000, mode: 'full', fullIntervalMs: 86_400_000, incrementalLagMs: 60_000, lockWaitMs: 0, resumeWithinMs: 3_600_000 },
  );
}

describe('the run lock', () => {
  it('is held by one session at a time, says who holds it, and is granted to a waiter the moment it is let go', async () => {
    const first = await hold('account-sync test holder');
    const refused = await acquireRunLock(h.db.url, { applicationName: 'second', waitMs: 0 });
    expect(refused).toMatchObject({ acquired: false, holder: { applicationName: 'account-sync test holder' } });
    const timedOut = await acquireRunLock(h.db.url, { applicationName: 'second', waitMs: 200 });
    expect(timedOut.acquired).toBe(false);

    const waiting = acquireRunLock(h.db.url, { applicationName: 'waiter', waitMs: Number.POSITIVE_INFINITY });
    await pollUntil(() => waitersOnLock().then((n) => n === 1), 'the waiter to queue on the lock');
    await first.release();
    const granted = await waiting;
    expect(granted.acquired).toBe(true);
    if (granted.acquired) await granted.lock.release();
  });

  it('signals `lost` when its connection dies, since the server has let the lock go', async () => {
    const lock = await hold('account-sync doomed holder');
    const lost = new Promise<unknown>((resolve) => lock.lost.addEventListener('abort', () => resolve(lock.lost.reason)));
    const admin = await openClient(h.db.url, 'test admin');
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'account-sync doomed holder'`);
    await admin.end();
    expect(String(await lost)).toMatch(/lost the run lock: its database connection failed/);
    await lock.release();
    (await hold('next')).release();
  });
});

describe('account-sync sync', () => {
  it('stops with exit code 75 and names the holder while another run holds the lock; with --wait it waits for it', async () => {
    const lock = await hold('account-sync worker test-host:1234');
    const refused = spawnCli(['sync'], h.env);
    expect((await refused.exited).code).toBe(75);
    expect(refused.stdout()).toBe('');
    expect(refused.stderr()).toMatch(
      /^account-sync sync: another sync is running, held by "account-sync worker test-host:1234" \(PostgreSQL backend \d+ from 127\.0\.0\.1, connected [^)]+\); not starting a second one \(use --wait to wait for it to finish\)\n$/,
    );
    expect(await h.prisma.syncRun.count()).toBe(0);

    const waiting = spawnCli(['sync', '--wait', '--json'], h.env);
    await pollUntil(() => waitersOnLock().then((n) => n === 1), '`sync --wait` to queue on the lock');
    await lock.release();
    expect((await waiting.exited).code).toBe(0);
    expect(JSON.parse(waiting.stdout())).toMatchObject({ status: 'succeeded', accounts_seen: 800 });
  });

  it('first resumes a run that a dead process left running, under the same id', async () => {
    const abandoned = await leaveRun(3, true);
    const run = spawnCli(['sync', '--json'], h.env);
    expect((await run.exited).code).toBe(0);
    expect(JSON.parse(run.stdout())).toMatchObject({ run_id: String(abandoned), status: 'succeeded', accounts_seen: 800 });
    expect((await runRows(h.prisma)).map((r) => [r.id, r.status, r.resumes])).toEqual([[abandoned, 'succeeded', 1]]);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});

describe('abandoned runs', () => {
  it('are closed as failed, saying why, when too old to resume; a new run starts instead', async () => {
    const old = await leaveRun(2, true);
    // It went quiet two days ago.
    await h.prisma.$executeRaw`UPDATE sync_runs SET started_at = now() - interval '2 days' WHERE id = ${old}`;
    await h.prisma.$executeRaw`UPDATE sync_run_pages SET committed_at = now() - interval '2 days' WHERE sync_run_id = ${old}`;

    const outcome = await guarded();
    if (outcome.kind !== 'ran') throw new Error(`expected a run, got ${outcome.kind}`);
    expect(outcome.resumed).toBeNull();
    expect(outcome.closed.map((r) => r.runId)).toEqual([old]);
    expect(outcome.summary).toMatchObject({ status: 'succeeded', accountsSeen: 800 });
    expect(outcome.summary.runId).not.toBe(old);
    const [closed] = await runRows(h.prisma);
    expect(closed).toMatchObject({
      id: old,
      status: 'failed',
      error_code: 'SYNC_ABANDONED',
      resumes: 0,
      error:
        'abandoned: its process stopped while it was running and it was idle for 48.0 h, longer than ' +
        'SYNC_RESUME_WITHIN_MS (60 min); a new run starts from the first page',
    });
    expect(await h.prisma.syncRunPage.count()).toBe(0);
  });

  it('of several, the newest is resumed and the others are closed as superseded', async () => {
    const older = await leaveRun(2, false);
    const newest = await leaveRun(4, true);
    const outcome = await guarded();
    if (outcome.kind !== 'ran') throw new Error(`expected a run, got ${outcome.kind}`);
    expect(outcome.resumed?.runId).toBe(newest);
    expect(outcome.closed.map((r) => r.runId)).toEqual([older]);
    expect(outcome.summary).toMatchObject({ runId: newest, status: 'succeeded', accountsSeen: 800 });
    expect((await runRows(h.prisma)).map((r) => [r.id, r.status, r.error_code, r.error, r.resumes])).toEqual([
      [older, 'failed', 'SYNC_ABANDONED', `abandoned: its process stopped while it was interrupted; superseded by run ${newest}, which was resumed instead`, 0],
      [newest, 'succeeded', null, null, 1],
    ]);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});

async function waitersOnLock(): Promise<number> {
  const [row] = await h.prisma.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM pg_locks
    WHERE locktype = 'advisory' AND NOT granted
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return row!.n;
}
