// What a run's outcome does to its job, and what the daemon reports about it: the counters
// of a finished run, a 429 storm that pauses the queue, credentials that fail the job at once.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  completions,
  daemonEnv,
  deleteKeys,
  httpGet,
  isMsg,
  metric,
  openTestQueue,
  runRows,
  spawnWorker,
  uniquePrefix,
  type CliProcess,
} from '../support/daemon.js';
import { JOB_NAME } from '../../src/queue/names.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

const { version: VERSION } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
let h: Harness;
let prefix: string;
let q: Awaited<ReturnType<typeof openTestQueue>>;
let worker: CliProcess | undefined;

beforeAll(async () => {
  h = await startHarness('daemon_jobs', { accounts: 500, seed: 3 });
  prefix = uniquePrefix('jobs');
  q = await openTestQueue(prefix);
});
beforeEach(async () => {
  // Each test starts from an empty queue: its worker creates the schedule, which fires at once.
  await deleteKeys(q.connection, prefix);
  h.simulator.stats.reset();
  h.simulator.faults.clear();
});
afterEach(async () => {
  worker?.kill('SIGTERM');
  if (worker) expect((await worker.exited).code).toBe(0);
  worker = undefined;
});
afterAll(async () => {
  await q?.close();
  await h?.close();
});

const scrape = async (w: CliProcess) => (await httpGet(`http://127.0.0.1:${await w.healthPort()}/metrics`)).body;

describe('a worker', () => {
  it('shows the counters of a finished run on /metrics, and is alive and ready', async () => {
    const done = completions(q.events, 1);
    worker = spawnWorker(daemonEnv(h, prefix));
    await done;
    const [run] = await runRows(h.prisma);
    const row = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: run!.id } });
    // Run from source, no build recorded a commit: the release is the package's version alone.
    expect(row).toMatchObject({ status: 'succeeded', mode: 'full', accountsSeen: 500, accountsInserted: 500, release: VERSION });

    const text = await scrape(worker);
    const value = (sample: string) => metric(text, sample);
    expect(value('account_sync_runs_total{outcome="succeeded"}')).toBe(1);
    expect(value('account_sync_runs_total{outcome="failed"}')).toBe(0);
    expect(value('account_sync_run_duration_seconds_count{outcome="succeeded"}')).toBe(1);
    expect(value('account_sync_accounts_seen_total')).toBe(500);
    expect(value('account_sync_accounts_written_total{kind="inserted"}')).toBe(500);
    expect(value('account_sync_accounts_written_total{kind="updated"}')).toBe(0);
    expect(value('account_sync_status_changes_total')).toBe(row.statusChanges);
    expect(value('account_sync_deletions_total')).toBe(0);
    expect(value('account_sync_rejected_records_total')).toBe(0);
    expect(value('account_sync_upstream_requests_total{endpoint="/accounts",status="200"}')).toBe(h.simulator.stats.byPath['/accounts']);
    expect(value('account_sync_upstream_requests_total{endpoint="/auth/token",status="200"}')).toBe(1);
    expect(value('account_sync_last_success_timestamp_seconds')).toBe(row.finishedAt!.getTime() / 1000);
    const since = value('account_sync_seconds_since_last_success')!;
    expect(since).toBeGreaterThanOrEqual(0);
    expect(since).toBeLessThan(60);
    expect(value('account_sync_run_in_progress')).toBe(0);
    expect(value(`account_sync_build_info{version="${VERSION}",commit="unknown"}`)).toBe(1);
    const page = await httpGet(`http://127.0.0.1:${await worker.healthPort()}/status`);
    expect(page.body).toContain(`<span id="release">account-sync ${VERSION} (unknown commit)</span>`);

    expect(await httpGet(`http://127.0.0.1:${await worker.healthPort()}/healthz`)).toEqual({ status: 200, body: '{"status":"alive"}\n' });
    const ready = await httpGet(`http://127.0.0.1:${await worker.healthPort()}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready', ready: true, checks: { redis: { up: true }, database: { up: true }, schema: { up: true } } });
    // One log line per run, with its summary.
    expect(worker.lines.filter((l) => l.msg === 'sync run succeeded')).toEqual([
      expect.objectContaining({ runId: String(run!.id), accountsSeen: 500, inserted: 500, pages: row.pages }),
    ]);
  });

  it('pauses the queue after a 429 storm instead of spending the job’s attempts, then runs it again', async () => {
    // Three 429s: the first attempt and both request retries of the run's first page.
    h.simulator.faults.enqueue('/accounts', ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 429 })));
    const before = (await runRows(h.prisma)).length;
    const done = completions(q.events, 1);
    worker = spawnWorker(daemonEnv(h, prefix, { UPVEST_RETRIES: '2', SYNC_CONCURRENCY: '1', QUEUE_RATE_LIMIT_PAUSE_MS: '1500' }));
    const [jobId] = await done;

    // One run: stopped by the storm with its pages kept, resumed after the pause.
    const runs = (await runRows(h.prisma)).slice(before);
    expect(runs.map((r) => [r.status, r.error_code, r.resumes])).toEqual([['succeeded', null, 1]]);
    const [resumed] = await h.prisma.$queryRaw<Array<{ waited_ms: number }>>`
      SELECT (extract(epoch FROM resumed_at - started_at) * 1000)::int AS waited_ms FROM sync_runs WHERE id = ${runs[0]!.id}`;
    expect(resumed!.waited_ms).toBeGreaterThanOrEqual(1500);
    // Started twice, but only its completion counts as an attempt made, as for a job that
    // succeeded at once: the rate-limited start used none of its QUEUE_JOB_ATTEMPTS.
    const job = await q.queue.getJob(jobId!);
    expect([job?.attemptsStarted, job?.attemptsMade]).toEqual([2, 1]);
    expect(job?.returnvalue).toMatchObject({ status: 'succeeded' });

    const text = await scrape(worker);
    expect(metric(text, 'account_sync_rate_limit_pauses_total')).toBe(1);
    expect(metric(text, 'account_sync_runs_total{outcome="failed"}')).toBe(0);
    expect(metric(text, 'account_sync_runs_total{outcome="succeeded"}')).toBe(1);
    expect(metric(text, 'account_sync_upstream_requests_total{endpoint="/accounts",status="429"}')).toBe(3);
    expect(metric(text, 'account_sync_upstream_retries_total{status="429",code="UPVEST_RATE_LIMITED"}')).toBe(2);
    expect(worker.lines.filter(isMsg('pausing the queue for 1500 ms after a 429 storm'))).toHaveLength(1);
  });

  it('retries a run that failed upstream, after the job’s backoff, as a new run', async () => {
    // Three 500s: the first page's attempt and both its request retries.
    h.simulator.faults.enqueue('/accounts', ...Array.from({ length: 3 }, () => ({ kind: 'status' as const, status: 500 })));
    const before = (await runRows(h.prisma)).length;
    const done = completions(q.events, 1);
    worker = spawnWorker(daemonEnv(h, prefix, { UPVEST_RETRIES: '2', SYNC_CONCURRENCY: '1', QUEUE_JOB_ATTEMPTS: '3' }));
    const [jobId] = await done;
    const runs = (await runRows(h.prisma)).slice(before);
    expect(runs.map((r) => [r.status, r.error_code])).toEqual([
      ['failed', 'UPVEST_SERVER_ERROR'],
      ['succeeded', null],
    ]);
    const job = await q.queue.getJob(jobId!);
    expect(job?.attemptsMade).toBe(2);
    expect(worker.lines.filter(isMsg('sync job failed, the queue retries it: UPVEST_SERVER_ERROR'))).toHaveLength(1);
  });

  it('fails the job at once, without retries, when the credentials are refused, with the reason on the job and the run', async () => {
    const secret = 'not-the-client-secret-at-all';
    const before = (await runRows(h.prisma)).length;
    const failed = new Promise<{ jobId: string; failedReason: string }>((resolve) => q.events.once('failed', resolve));
    worker = spawnWorker(daemonEnv(h, prefix, { UPVEST_CLIENT_SECRET: secret, QUEUE_JOB_ATTEMPTS: '3' }));
    const event = await failed;

    const runs = (await runRows(h.prisma)).slice(before);
    expect(runs).toHaveLength(1);
    const run = runs[0]!;
    expect(run).toMatchObject({ status: 'failed', error_code: 'UPVEST_TOKEN_INVALID' });
    expect(run.error).toMatch(/^Upvest refused the client credentials .*HTTP 401/);
    const job = await q.queue.getJob(event.jobId);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toBe(`UPVEST_TOKEN_INVALID: ${run.error} (sync run ${run.id})`);
    expect(event.failedReason).toBe(job?.failedReason);
    expect(h.simulator.stats.byPath['/auth/token']).toBe(1);
    // The secret is nowhere: not in the logs, the run or the job.
    expect(worker.stderr()).not.toContain(secret);
    expect(JSON.stringify(runs, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(secret);
    expect(job?.failedReason).not.toContain(secret);
  });

  it('follows a run that could not prove it listed every account with a full run at once', async () => {
    const first = completions(q.events, 1);
    worker = spawnWorker(daemonEnv(h, prefix));
    await first;
    // A bulk update gives 150 accounts one updated_at, served in a new order on every request:
    // more than a page of 100 can prove, so the scheduled (incremental) run cannot.
    h.simulator.dataset.setStatuses(h.simulator.dataset.ids().slice(100, 250), 'LOCKED');
    h.simulator.dataset.shuffleTies(3);
    const before = (await runRows(h.prisma)).length;
    const both = completions(q.events, 2);
    await q.queue.add(JOB_NAME, { reason: 'trigger' });
    await both;
    h.simulator.dataset.shuffleTies(null);
    const runs = (await runRows(h.prisma)).slice(before);
    expect(runs.map((r) => [r.mode, r.status, r.error_code])).toEqual([
      ['incremental', 'incomplete', 'SYNC_WALK_UNPROVEN'],
      ['full', 'succeeded', null],
    ]);
    const jobs = await q.queue.getJobs(['completed'], 0, 10);
    expect(jobs.map((j) => j.data.reason).sort()).toEqual(['follow-up', 'schedule', 'trigger']);
    const followUps = worker.lines.filter((l) => typeof l.msg === 'string' && /^sync run incomplete \(.*\); a full run is queued to start at once$/.test(l.msg));
    expect(followUps).toHaveLength(1);
    expect(metric(await scrape(worker), 'account_sync_runs_total{outcome="incomplete"}')).toBe(1);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});
