// Workers that die or are stopped mid-run: the run goes on under the same id from its last
// committed page, and no run stays `running`.
import { afterEach, describe, expect, it } from 'vitest';
import {
  committedPageCount,
  daemonEnv,
  httpGet,
  isMsg,
  metric,
  openTestQueue,
  pollUntil,
  runRows,
  spawnWorker,
  uniquePrefix,
  type CliProcess,
  type LogLine,
} from '../support/daemon.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A database, a queue, and a simulator that holds the run's page requests once it has answered
 * `committed + 1` of them (SYNC_CONCURRENCY=1: one at a time), so that the run stops with
 * exactly `committed` pages committed (a page commits once the next one has shown that no account
 * moved between them) and the test chooses the moment it strikes.
 */
async function setUp(label: string, committed: number) {
  const h = await startHarness(`daemon_${label}`, { accounts: 3000, seed: 5 });
  cleanups.push(() => h.close());
  const hold = h.simulator.faults.hold('/accounts', { after: committed + 1 });
  cleanups.push(async () => hold.release());
  const prefix = uniquePrefix(label);
  const q = await openTestQueue(prefix);
  cleanups.push(() => q.close());
  const env = daemonEnv(h, prefix, { SYNC_CONCURRENCY: '1' });
  const workers: CliProcess[] = [];
  cleanups.push(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
  });
  const spawn = () => {
    const w = spawnWorker(env);
    workers.push(w);
    return w;
  };
  return { h, q, env, spawn, hold };
}

const runLine = (what: 'started' | 'resumed' | 'succeeded', runId?: string) => (line: LogLine) =>
  line.msg === `sync run ${what}` && (runId === undefined || line.runId === runId);

describe('a worker killed mid-run', () => {
  it('leaves its run to another worker, which resumes it under the same id and leaves the mirror exact', async () => {
    const { h, spawn, hold } = await setUp('sigkill', 5);
    const a = spawn();
    const b = spawn();
    // Whichever of the two takes the start-up run.
    const started = await Promise.any(
      [a, b].map(async (w) => ({ w, line: await w.waitForLog(runLine('started'), 'a run to start') })),
    );
    const runId = String(started.line.runId);
    const [victim, survivor] = started.w === a ? [a, b] : [b, a];
    await hold.arrived();
    await pollUntil(async () => (await committedPageCount(h.prisma, runId)) >= 5, 'five committed pages');
    victim.kill('SIGKILL');
    expect((await victim.exited).signal).toBe('SIGKILL');
    hold.release();

    // BullMQ's stalled check hands the job over once the dead worker's 2 s claim runs out.
    const resumed = await survivor.waitForLog(runLine('resumed', runId), 'the run to be resumed', 20_000);
    const resumedPages = resumed.resumedPages as number;
    expect(resumedPages).toBe(5);
    await survivor.waitForLog(runLine('succeeded', runId), 'the resumed run to succeed');

    const runs = await runRows(h.prisma);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ id: BigInt(runId), status: 'succeeded', resumes: 1, accounts_seen: 3000, error_code: null });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    // The survivor fetched only the pages the victim had not committed.
    const text = (await httpGet(`http://127.0.0.1:${await survivor.healthPort()}/metrics`)).body;
    expect(metric(text, 'account_sync_upstream_requests_total{endpoint="/accounts",status="200"}')).toBe(runs[0]!.pages - resumedPages);
    expect(metric(text, 'account_sync_runs_resumed_total')).toBe(1);
    expect(survivor.lines.some((l) => String(l.msg).includes('lost its worker (stalled)'))).toBe(true);
  });
});

describe('SIGTERM', () => {
  it('stops with exit 0 while a page request hangs, leaves the run interrupted (not running), and the next start finishes it', async () => {
    const { h, q, spawn, hold } = await setUp('sigterm', 3);
    const first = spawn();
    const runId = String((await first.waitForLog(runLine('started'), 'a run to start')).runId);
    await hold.arrived();
    await pollUntil(async () => (await committedPageCount(h.prisma, runId)) >= 3, 'three committed pages');
    first.kill('SIGTERM');
    // Exit 0, not the forced exit (1) that SHUTDOWN_TIMEOUT_MS would end in: the request that
    // was never answered did not hold the shutdown up.
    expect((await first.exited).code).toBe(0);
    expect(first.lines.filter((l) => String(l.msg).startsWith('shutdown took longer'))).toEqual([]);
    hold.release();

    const [run] = await runRows(h.prisma);
    expect(run).toMatchObject({ id: BigInt(runId), status: 'interrupted', error_code: 'SYNC_INTERRUPTED', error: 'interrupted: shutting down on SIGTERM' });
    expect(await committedPageCount(h.prisma, runId)).toBe(run!.pages);
    // The job went back to the queue without using up an attempt.
    const [waiting] = await q.queue.getJobs(['wait']);
    expect(waiting?.attemptsMade).toBe(0);
    expect(first.lines.some(isMsg('sync job back in the queue'))).toBe(true);

    const second = spawn();
    const resumed = await second.waitForLog(runLine('resumed', runId), 'the next start to resume the run');
    expect(resumed.resumedPages).toBe(run!.pages);
    await second.waitForLog(runLine('succeeded', runId), 'the resumed run to succeed');
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const runs = await runRows(h.prisma);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'succeeded', resumes: 1, accounts_seen: 3000 });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('a second signal exits at once; the run it left behind is resumed by the next start', async () => {
    const { h, spawn, hold } = await setUp('twice', 2);
    const first = spawn();
    const runId = String((await first.waitForLog(runLine('started'), 'a run to start')).runId);
    await hold.arrived();
    await pollUntil(async () => (await committedPageCount(h.prisma, runId)) >= 2, 'two committed pages');
    first.kill('SIGTERM');
    await first.waitForLog(isMsg('SIGTERM: stopping'), 'the first signal to be taken');
    first.kill('SIGTERM');
    expect((await first.exited).code).toBe(143);
    hold.release();

    const second = spawn();
    await second.waitForLog(runLine('resumed', runId), 'the next start to resume the run', 20_000);
    await second.waitForLog(runLine('succeeded', runId), 'the resumed run to succeed');
    const runs = await runRows(h.prisma);
    expect(runs.map((r) => [r.id, r.status, r.resumes])).toEqual([[BigInt(runId), 'succeeded', 1]]);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});
