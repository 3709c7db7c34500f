// A worker SIGKILLed inside a page transaction, not merely somewhere during a run: a gate in
// the test's database holds the run's fourth page row (written after that page's accounts, in
// the same transaction) until the test has killed the process. The page in flight must leave
// nothing; the three committed pages stay; the next worker resumes the run under its id and
// ends exact and current (upstream changed meanwhile on the committed pages), each change
// recorded once.
import { afterEach, describe, expect, it } from 'vitest';
import { openClient } from '../../src/db/pg-client.js';
import { daemonEnv, isMsg, pollUntil, runRows, spawnWorker, uniquePrefix, type CliProcess } from '../support/daemon.js';
import { expectedMirror, mirroredAccounts, startHarness } from '../support/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(worker: CliProcess): CliProcess {
  cleanups.push(async () => {
    worker.kill('SIGKILL');
    await worker.exited;
  });
  return worker;
}

const GATE = 240_027;

describe('a worker killed inside a page transaction', () => {
  it('leaves nothing of the page in flight, keeps the committed ones, and the next worker resumes the run exactly', async () => {
    const h = await startHarness('daemon_kill_in_page', { accounts: 1500, seed: 6 });
    cleanups.push(() => h.close());
    await h.prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_page_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF (SELECT count(*) FROM sync_run_pages WHERE sync_run_id = NEW.sync_run_id) >= 3 THEN
          PERFORM pg_advisory_xact_lock_shared(${GATE});
        END IF;
        RETURN NEW;
      END $$`);
    await h.prisma.$executeRawUnsafe(`CREATE TRIGGER test_page_gate BEFORE INSERT ON sync_run_pages FOR EACH ROW EXECUTE FUNCTION test_page_gate()`);
    const gate = await openClient(h.db.url, 'test page gate');
    cleanups.push(() => gate.end());
    await gate.query(`SELECT pg_advisory_lock(${GATE})`);

    const env = daemonEnv(h, uniquePrefix('kill-in-page'), { SYNC_CONCURRENCY: '1' });
    const victim = track(spawnWorker(env));
    const started = await victim.waitForLog(isMsg('sync run started'), 'the start-up run');
    const runId = BigInt(started.runId as string);
    const inFlight = await pollUntil(async () => {
      const { rows } = await gate.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [GATE],
      );
      return rows[0]?.pid;
    }, 'the fourth page transaction to wait at the gate');
    victim.kill('SIGKILL');
    expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
    await gate.query(`SELECT pg_advisory_unlock(${GATE})`);
    // Released, its backend finds its client gone and rolls back.
    await pollUntil(
      async () => ((await gate.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [inFlight])).rowCount === 0 ? true : undefined),
      "the killed worker's page transaction to end",
    );

    // Exactly the three committed pages, and nothing written beyond what they list.
    const pages = await h.prisma.syncRunPage.findMany({ where: { syncRunId: runId }, orderBy: { pageIndex: 'asc' } });
    expect(pages.map((p) => p.pageIndex)).toEqual([0, 1, 2]);
    const listed = new Set(pages.flatMap((p) => p.accountIds));
    const written = (await h.prisma.account.findMany({ where: { lastSyncRunId: runId }, select: { id: true } })).map((a) => a.id);
    expect(written.length).toBeGreaterThan(0);
    expect(written.filter((id) => !listed.has(id))).toEqual([]);
    const history = await h.prisma.accountStatusChange.findMany({ where: { syncRunId: runId }, select: { accountId: true } });
    expect(history.map((c) => c.accountId).sort()).toEqual([...written].sort());
    expect(await runRows(h.prisma)).toEqual([expect.objectContaining({ id: runId, status: 'running' })]);

    // While no worker runs, accounts on the committed pages change upstream: the resumed run
    // must end current, not as of the pages it kept.
    const [locked, renamed] = h.simulator.dataset.list().slice(5, 7);
    const lockedBefore = locked!.status;
    h.simulator.dataset.setStatus(locked!.id, 'LOCKED');
    h.simulator.dataset.rename(renamed!.id, 'Renamed while no worker ran');

    await h.prisma.$executeRawUnsafe(`DROP TRIGGER test_page_gate ON sync_run_pages`);
    const next = track(spawnWorker(env));
    await next.waitForLog((l) => l.msg === 'sync run resumed' && l.runId === String(runId), 'the run to be resumed');
    await next.waitForLog((l) => l.msg === 'sync run succeeded' && l.runId === String(runId), 'the resumed run to succeed');
    expect(await runRows(h.prisma)).toEqual([expect.objectContaining({ id: runId, status: 'succeeded', resumes: 1, accounts_seen: 1500 })]);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    const [changes] = await h.prisma.$queryRaw<Array<{ rows: number; accounts: number }>>`
      SELECT count(*)::int AS rows, count(DISTINCT account_id)::int AS accounts FROM account_status_changes`;
    expect(changes).toEqual({ rows: 1501, accounts: 1500 });
    const lockedHistory = await h.prisma.accountStatusChange.findMany({
      where: { accountId: locked!.id },
      orderBy: { id: 'asc' },
      select: { fromStatus: true, toStatus: true, syncRunId: true },
    });
    expect(lockedHistory).toEqual([
      { fromStatus: null, toStatus: lockedBefore, syncRunId: runId },
      { fromStatus: lockedBefore, toStatus: 'LOCKED', syncRunId: runId },
    ]);
  });
});
