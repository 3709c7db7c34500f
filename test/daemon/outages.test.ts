// PostgreSQL or Redis going away: the daemon stays up, says so in its logs and on /readyz, and
// carries on when they return; a Redis that lost its data gets its schedule back.
//
// PostgreSQL is made unreachable without touching the shared server: the worker reaches it
// through a TCP proxy of the test's own, which the test cuts (every connection dropped, new ones
// refused, as when the server is down) and restores. Redis is a redis-server of the test's own,
// killed and started again on the same port with nothing kept on disk.
import { afterEach, describe, expect, it } from 'vitest';
import { requestRun } from '../../src/queue/requests.js';
import { syncJobOptions } from '../../src/queue/names.js';
import { loadSections } from '../../src/config/index.js';
import {
  completions,
  daemonEnv,
  httpGet,
  isMsg,
  openTestQueue,
  pollUntil,
  runRows,
  spawnWorker,
  startRedisServer,
  startTcpProxy,
  uniquePrefix,
  type CliProcess,
} from '../support/daemon.js';
import { startHarness } from '../support/harness.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(worker: CliProcess) {
  cleanups.push(async () => {
    worker.kill('SIGKILL');
    await worker.exited;
  });
  return worker;
}

/** /readyz until it answers `status` (a request checks afresh; there is no event to wait for). */
async function readyz(worker: CliProcess, status: number) {
  const url = `http://127.0.0.1:${await worker.healthPort()}/readyz`;
  const answer = await pollUntil(async () => {
    const response = await httpGet(url);
    return response.status === status ? response : undefined;
  }, `/readyz to answer ${status}`);
  return JSON.parse(answer.body) as { status: string; ready: boolean; checks: Record<string, { up: boolean }> };
}

describe('outages', () => {
  it('PostgreSQL unreachable: /readyz fails and the log says so, then both recover and runs go on', async () => {
    const h = await startHarness('daemon_pg_outage', { accounts: 300, seed: 9 });
    cleanups.push(() => h.close());
    const direct = new URL(h.db.url);
    const proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port || 5432) });
    cleanups.push(() => proxy.cut());
    const viaProxy = new URL(h.db.url);
    viaProxy.port = String(proxy.port);
    const prefix = uniquePrefix('pg-outage');
    const q = await openTestQueue(prefix);
    cleanups.push(() => q.close());
    const env = daemonEnv(h, prefix, { DATABASE_URL: viaProxy.toString() });

    const first = completions(q.events, 1);
    const worker = track(spawnWorker(env));
    await first;
    expect((await readyz(worker, 200)).ready).toBe(true);

    await proxy.cut();
    // Up or down only: the driver's message (host, user) goes to the log, not to whoever asks.
    expect(await readyz(worker, 503)).toEqual({ status: 'not ready', ready: false, checks: { redis: { up: true }, database: { up: false }, schema: { up: true } } });
    const logged = await worker.waitForLog(isMsg('database unreachable'), 'the outage to be logged');
    expect(logged.error).toEqual(expect.any(String));
    expect((await httpGet(`http://127.0.0.1:${await worker.healthPort()}/healthz`)).status).toBe(200);

    await proxy.restore();
    expect(await readyz(worker, 200)).toEqual({ status: 'ready', ready: true, checks: { redis: { up: true }, database: { up: true }, schema: { up: true } } });
    await worker.waitForLog(isMsg('database reachable again'), 'the recovery to be logged');

    const next = completions(q.events, 1);
    const request = await requestRun(q.queue, 'trigger', syncJobOptions(loadSections({}, ['queue']).queue));
    expect(request.added).toBe(true);
    await next;
    expect((await runRows(h.prisma)).map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  });

  it('Redis restarted without its data: the worker waits it out, puts the schedule back, and it fires again', async () => {
    const h = await startHarness('daemon_redis_restart', { accounts: 300, seed: 10 });
    cleanups.push(() => h.close());
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    const prefix = uniquePrefix('redis-restart');
    const worker = track(spawnWorker(daemonEnv(h, prefix, { REDIS_URL: redis.url, SYNC_INTERVAL_MS: '3000' })));
    const firstRun = await worker.waitForLog((l) => l.msg === 'sync run succeeded', 'the first run');
    await worker.waitForLog(isMsg('sync schedule created'), 'the schedule to be created');

    await redis.stop();
    const down = await readyz(worker, 503);
    expect(down.checks.redis!.up).toBe(false);
    expect(down.checks.database).toEqual({ up: true });
    await worker.waitForLog(isMsg('redis unreachable'), 'the outage to be logged');

    await redis.restart();
    const restartedAt = Date.now();
    // Two runs after the restart: the schedule is back and firing, not a one-off.
    const after = (line: { msg?: string; time?: unknown; runId?: unknown }) =>
      line.msg === 'sync run succeeded' && (line.time as number) > restartedAt && line.runId !== firstRun.runId;
    const again = await worker.waitForLog(after, 'a run after the restart', 30_000);
    await worker.waitForLog((l) => after(l) && l.runId !== again.runId, 'a second run after the restart', 30_000);
    expect(worker.lines.filter(isMsg('sync schedule created'))).toHaveLength(2);
    expect((await readyz(worker, 200)).ready).toBe(true);

    const q = await openTestQueue(prefix, redis.url);
    cleanups.push(() => q.close());
    expect(await q.queue.getJobSchedulersCount()).toBe(1);
    worker.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    expect((await runRows(h.prisma)).filter((r) => r.status !== 'succeeded')).toEqual([]);
  });
});
