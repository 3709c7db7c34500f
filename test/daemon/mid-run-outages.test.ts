// Outages in the middle of a run: the database connection cut while a page's transaction is
// open, and Redis lost while the worker's run walks. The run fails or is resumed cleanly, and
// the next one leaves the mirror exact, with no run left running.
//
// The database is reached through a TCP proxy of the test's own, cut as a network failure
// would; Redis is a redis-server of the test's own that keeps nothing on disk.
import { afterEach, describe, expect, it } from 'vitest';
import {
  daemonEnv,
  isMsg,
  pollUntil,
  runRows,
  spawnCli,
  spawnWorker,
  startRedisServer,
  startTcpProxy,
  uniquePrefix,
  type CliProcess,
  type LogLine,
} from '../support/daemon.js';
import { openClient } from '../../src/db/pg-client.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(process: CliProcess) {
  cleanups.push(async () => {
    process.kill('SIGKILL');
    await process.exited;
  });
  return process;
}

/** A page transaction in the test's database that has written rows and not yet committed. */
async function openPageTransaction(h: Harness): Promise<number> {
  return pollUntil(async () => {
    const [row] = await h.prisma.$queryRaw<Array<{ pid: number }>>`
      SELECT pid FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'account-sync' AND backend_xid IS NOT NULL LIMIT 1`;
    return row?.pid;
  }, 'a page transaction under way', { intervalMs: 5 });
}

const PAGE_GATE = 240_024;

/** Whether a page transaction of the run waits for the gate's advisory lock. */
async function pageWaitsAtGate(h: Harness): Promise<boolean> {
  const [row] = await h.prisma.$queryRaw<Array<{ n: number }>>`
    SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.objid = ${PAGE_GATE} AND NOT l.granted AND a.application_name LIKE 'account-sync%' AND l.database =
      (SELECT oid FROM pg_database WHERE datname = current_database())`;
  return row!.n > 0;
}

const ended = (line: LogLine) => /^sync run (succeeded|failed|interrupted)$/.test(line.msg ?? '');

describe('the database connection cut during a page transaction', () => {
  it('ends the run without losing a committed page; the next run is exact and nothing is left running', async () => {
    const h = await startHarness('outage_page_transaction', { accounts: 1500, seed: 41 });
    cleanups.push(() => h.close());
    // Each page's transaction holds on for a moment after writing its accounts, so that the
    // cut lands inside one: a test-only trigger in the test's database.
    await h.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_slow_page() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_sleep(0.2); RETURN NEW; END $$`);
    await h.prisma.$executeRawUnsafe(
      `CREATE TRIGGER test_slow_page BEFORE INSERT ON sync_run_pages FOR EACH ROW EXECUTE FUNCTION test_slow_page()`,
    );
    const direct = new URL(h.db.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    cleanups.push(() => proxy.cut());
    const viaProxy = new URL(h.db.url);
    viaProxy.port = String(proxy.port);
    const env = { ...h.env, DATABASE_URL: viaProxy.toString(), SYNC_CONCURRENCY: '2', LOG_LEVEL: 'info' };

    const first = track(spawnCli(['sync', '--json'], env));
    const started = await first.waitForLog(isMsg('sync run started'), 'the run to start');
    await pollUntil(async () => (await h.prisma.syncRunPage.count()) >= 2, 'two committed pages');
    await openPageTransaction(h);
    await proxy.cut();
    expect((await first.exited).code).toBe(1);
    // What was committed before the cut is there; the page in flight left nothing half-written.
    const committed = await h.prisma.syncRunPage.findMany({ where: { syncRunId: BigInt(started.runId as string) } });
    expect(committed.length).toBeGreaterThanOrEqual(2);
    const [pageRows] = await h.prisma.$queryRaw<Array<{ missing: number }>>`
      SELECT count(*)::int AS missing FROM sync_run_pages p, unnest(p.account_ids) AS id
      WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = id)`;
    expect(pageRows!.missing).toBe(0);

    await proxy.restore();
    // The cut run was either closed as failed when its connection broke, or left running and
    // is resumed under its id by the next run.
    const after = track(spawnCli(['sync', '--json'], env));
    expect((await after.exited).code).toBe(0);
    expect(JSON.parse(after.stdout())).toMatchObject({ status: 'succeeded' });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));

    h.simulator.dataset.applyRandomChanges({ seed: 3, statusChanges: 20, renames: 5, additions: 3, removals: 2 });
    const next = track(spawnCli(['sync', '--json'], env));
    expect((await next.exited).code).toBe(0);
    const summary = JSON.parse(next.stdout()) as { run_id: string; status: string; walk_consistent: boolean };
    expect(summary).toMatchObject({ status: 'succeeded', walk_consistent: true });
    const runs = await runRows(h.prisma);
    expect(runs.filter((r) => r.status === 'running' || r.status === 'interrupted')).toEqual([]);
    expect(runs.at(-1)).toMatchObject({ id: BigInt(summary.run_id), status: 'succeeded' });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    const [deleted] = await h.prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM accounts WHERE deleted_at IS NOT NULL`;
    expect(deleted!.n).toBe(2);
  });
});

describe('Redis lost during a run', () => {
  it('lets the run finish, and the schedule it puts back runs again, exactly', async () => {
    const h = await startHarness('outage_redis_mid_run', { accounts: 1500, seed: 42 });
    cleanups.push(() => h.close());
    // A gate in the test's database: after its first two pages, the run's page rows wait for an
    // advisory lock the test holds, so the run is certainly under way while Redis is down.
    await h.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_page_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT count(*) FROM sync_run_pages WHERE sync_run_id = NEW.sync_run_id) >= 2 THEN
          PERFORM pg_advisory_xact_lock_shared(${PAGE_GATE});
        END IF;
        RETURN NEW;
      END $$`);
    await h.prisma.$executeRawUnsafe(`CREATE TRIGGER test_page_gate BEFORE INSERT ON sync_run_pages FOR EACH ROW EXECUTE FUNCTION test_page_gate()`);
    const gate = await openClient(h.db.url, 'test page gate');
    cleanups.push(() => gate.end());
    await gate.query(`SELECT pg_advisory_lock(${PAGE_GATE})`);

    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const prefix = uniquePrefix('redis-mid-run');
    const worker = track(spawnWorker(daemonEnv(h, prefix, { REDIS_URL: redis.url, SYNC_CONCURRENCY: '1', SYNC_INTERVAL_MS: '4000' })));
    const started = await worker.waitForLog(isMsg('sync run started'), 'the start-up run');
    const runId = started.runId as string;
    const pagesOfRun = () => h.prisma.syncRunPage.count({ where: { syncRunId: BigInt(runId) } });
    await pollUntil(async () => (await pagesOfRun()) >= 2 && (await pageWaitsAtGate(h)), 'the third page waiting at the gate');

    const beforeOutage = worker.lines.length;
    await redis.stop();
    const noticed = await worker.waitForLog(isMsg('redis unreachable'), 'the outage to be noticed', { since: beforeOutage });
    // Redis is down and known to be, and the run has not ended: two pages, still running.
    expect(await pagesOfRun()).toBe(2);
    expect(await runRows(h.prisma)).toEqual([expect.objectContaining({ id: BigInt(runId), status: 'running' })]);
    await gate.query(`SELECT pg_advisory_unlock(${PAGE_GATE})`);
    // The run lock is in PostgreSQL: the run goes on without Redis and ends.
    const first = await worker.waitForLog((l) => ended(l) && l.runId === runId, 'the run to end', { since: beforeOutage });
    expect(first.msg).toBe('sync run succeeded');
    expect(worker.lines.indexOf(noticed)).toBeLessThan(worker.lines.indexOf(first));
    expect(worker.lines.slice(beforeOutage, worker.lines.indexOf(first)).filter(isMsg('redis reachable again'))).toEqual([]);
    // It wrote the rest of its pages with Redis down (a succeeded run's page rows are cleared).
    expect((await runRows(h.prisma))[0]).toMatchObject({ status: 'succeeded', accounts_seen: 1500 });
    expect((await runRows(h.prisma))[0]!.pages).toBeGreaterThan(2);

    const beforeRestart = worker.lines.length;
    await redis.restart();
    // No removals: the run after the restart is incremental (a full one succeeded within
    // SYNC_FULL_INTERVAL_MS), and incremental runs never mark deletions.
    h.simulator.dataset.applyRandomChanges({ seed: 4, statusChanges: 15, renames: 3, additions: 2 });
    const next = await worker.waitForLog((l) => ended(l) && l.runId !== runId, 'a run after Redis came back', { since: beforeRestart });
    expect(next.msg).toBe('sync run succeeded');
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    const runs = await runRows(h.prisma);
    expect(runs.filter((r) => r.status !== 'succeeded')).toEqual([]);
    expect(runs.find((r) => String(r.id) === runId)).toMatchObject({ status: 'succeeded', accounts_seen: 1500 });
    // The run after the restart saw the changes made meanwhile: nothing missing, nothing stale.
    expect(runs.find((r) => String(r.id) === String(next.runId))).toMatchObject({ mode: 'incremental', status: 'succeeded' });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});
