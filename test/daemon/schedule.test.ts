// The schedule, across replicas: it fires, it exists once however many workers upsert it, and
// runs never overlap, whichever worker takes them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULER_ID } from '../../src/queue/names.js';
import {
  completions,
  daemonEnv,
  deleteKeys,
  isMsg,
  openTestQueue,
  runRows,
  spawnCli,
  spawnWorker,
  uniquePrefix,
  type CliProcess,
} from '../support/daemon.js';
import { mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let prefix: string;
let q: Awaited<ReturnType<typeof openTestQueue>>;
const workers: CliProcess[] = [];

beforeAll(async () => {
  h = await startHarness('daemon_schedule', { accounts: 1500, seed: 21 });
  prefix = uniquePrefix('schedule');
  q = await openTestQueue(prefix);
});
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await q?.close();
  await h?.close();
});

describe('the schedule', () => {
  it('fires every SYNC_INTERVAL_MS on two workers at once, with one scheduler and never two runs at a time', async () => {
    const env = daemonEnv(h, prefix, { SYNC_INTERVAL_MS: '2000', SYNC_CONCURRENCY: '2' });
    const five = completions(q.events, 5);
    const a = spawnWorker(env);
    const b = spawnWorker(env);
    workers.push(a, b);
    const finished = await five;
    expect(finished).toHaveLength(5);
    // Both replicas take jobs, not one of them all: a job goes to the worker that has waited
    // longest for one (Redis serves blocked clients first come, first served), so the worker
    // that did not run a job runs the next.
    await Promise.all([a, b].map((w) => w.waitForLog(isMsg('sync run started'), 'a run on each of the two workers')));

    expect(await q.queue.getJobSchedulersCount()).toBe(1);
    const scheduler = await q.queue.getJobScheduler(SCHEDULER_ID);
    expect(Number(scheduler?.every)).toBe(2000);
    for (const w of [a, b]) await w.waitForLog(isMsg('sync schedule'), 'the schedule check');

    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect((await b.exited).code).toBe(0);

    const runs = await runRows(h.prisma);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < runs.length; i++) {
      // Each run started after the one before it had finished.
      expect(runs[i - 1]!.finished_at).not.toBeNull();
      expect(runs[i]!.started_at.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finished_at!.getTime());
    }
    expect(runs.filter((r) => r.status === 'running')).toEqual([]);
    expect(runs[0]).toMatchObject({ status: 'succeeded', mode: 'full', accounts_seen: 1500 });
    // Every run that began was logged by exactly one of the two processes.
    const started = [a, b].flatMap((w) => w.lines.filter(isMsg('sync run started')).map((l) => String(l.runId)));
    expect(new Set(started).size).toBe(started.length);
    expect(await mirroredAccounts(h.prisma)).toHaveLength(1500);
  });

  it('`trigger` queues a run now, and not a second one while one is waiting or running', async () => {
    await deleteKeys(q.connection, prefix); // no schedule left over from the test before
    const env = daemonEnv(h, prefix, { SYNC_CONCURRENCY: '1' });
    const first = spawnCli(['trigger', '--json'], env);
    expect((await first.exited).code).toBe(0);
    const queued = JSON.parse(first.stdout()) as { added: boolean; jobId: string };
    expect(queued.added).toBe(true);
    const again = spawnCli(['trigger'], env);
    expect((await again.exited).code).toBe(0);
    expect(again.stdout()).toBe(`a sync run is already waiting (job ${queued.jobId}); not queuing another\n`);

    // The triggered job, then the schedule's first one (an interval schedule fires when created).
    const done = completions(q.events, 2);
    const worker = spawnWorker(env);
    workers.push(worker);
    expect(await done).toEqual([queued.jobId, expect.stringMatching(/^repeat:sync-schedule:\d+$/)]);
    const job = await q.queue.getJob(queued.jobId);
    expect(job?.data).toEqual({ reason: 'trigger' });
    expect(job?.returnvalue).toMatchObject({ status: 'succeeded', accountsSeen: expect.any(Number) });

    // With --wait, the command ends with the run, and says how it went.
    const waited = spawnCli(['trigger', '--wait', '--json'], env);
    expect((await waited.exited).code).toBe(0);
    expect(JSON.parse(waited.stdout())).toMatchObject({ added: true, result: { status: 'succeeded' } });
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  });
});
