// Bull Board's own read-only mode, reached: the health server refuses every method but GET and
// HEAD before a request gets to the dashboard (test/status-page/page.test.ts), so here the
// dashboard is served by a bare node:http server that lets every method through, and each of
// its API's writes must be refused by Bull Board itself, leaving the queue as it was.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_NAME, QUEUE_NAME } from '../../src/queue/names.js';
import { createQueueDashboard } from '../../src/status-page/queue-dashboard.js';
import { openTestQueue, uniquePrefix } from '../support/daemon.js';

let q: Awaited<ReturnType<typeof openTestQueue>>;
let server: Server;
let base: string;

beforeAll(async () => {
  q = await openTestQueue(uniquePrefix('dashboard'));
  const dashboard = createQueueDashboard([q.queue], '/admin/queues');
  server = createServer((request, response) => {
    const path = new URL(request.url!, 'http://localhost').pathname;
    if (!dashboard(request, response, path)) response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/queues`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  await q?.close();
});

/** What a write could change: paused or not, the jobs by state, each job's data, priority and delay. */
async function queueState() {
  const jobs = await q.queue.getJobs(['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed']);
  return {
    paused: await q.queue.isPaused(),
    counts: await q.queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'),
    jobs: await Promise.all(
      jobs
        .sort((a, b) => String(a.id).localeCompare(String(b.id)))
        .map(async (job) => ({ id: job.id, data: job.data, priority: job.priority, delay: job.delay, state: await job.getState() })),
    ),
    globalConcurrency: await q.queue.getGlobalConcurrency(),
  };
}

describe("Bull Board's read-only mode, with nothing in front of it", () => {
  it('refuses every write of its API with 405, and the queue is left exactly as it was', async () => {
    const waiting = await q.queue.add(JOB_NAME, { reason: 'schedule' }, { jobId: 'dashboard-waiting' });
    const delayed = await q.queue.add(JOB_NAME, { reason: 'schedule' }, { jobId: 'dashboard-delayed', delay: 3_600_000 });
    const before = await queueState();
    expect(before.counts).toMatchObject({ waiting: 1, delayed: 1 });

    const queue = `${base}/api/queues/${QUEUE_NAME}`;
    const writes: Array<[string, string, unknown?]> = [
      ['POST', `${queue}/add`, { name: JOB_NAME, data: { reason: 'manual' } }],
      ['PUT', `${queue}/retry/failed`],
      ['PUT', `${queue}/promote`],
      ['PUT', `${queue}/clean/completed`],
      ['PUT', `${queue}/pause`],
      ['PUT', `${queue}/resume`],
      ['PUT', `${queue}/concurrency`, { concurrency: 7 }],
      ['PUT', `${queue}/rate-limit`, { expireTimeMs: 60_000 }],
      ['PUT', `${queue}/empty`],
      ['PUT', `${queue}/obliterate`],
      ['PUT', `${queue}/${delayed.id}/promote`],
      ['PUT', `${queue}/${waiting.id}/retry`],
      ['PUT', `${queue}/${waiting.id}/clean`],
      ['PATCH', `${queue}/${waiting.id}/update-data`, { jobData: { reason: 'changed' } }],
      ['PATCH', `${queue}/${delayed.id}/delay`, { runAt: Date.now() }],
      ['PATCH', `${queue}/${waiting.id}/priority`, { priority: 1 }],
    ];
    const answers: string[] = [];
    for (const [method, url, body] of writes) {
      const response = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
      answers.push(`${method} ${url.slice(base.length)} ${response.status} ${await response.text()}`);
    }
    // Refused by Bull Board itself: its own error, not a method filter's.
    expect(answers).toEqual(writes.map(([method, url]) => expect.stringMatching(new RegExp(`^${method} ${escape(url.slice(base.length))} 405 .*QUEUE_READ_ONLY`))));
    // The board-wide pause and resume skip read-only queues.
    for (const url of [`${base}/api/queues/pause`, `${base}/api/queues/resume`]) {
      expect((await fetch(url, { method: 'PUT' })).status).toBe(200);
    }
    expect(await queueState()).toEqual(before);
    // Reads still work.
    const listing = await fetch(`${base}/api/queues?activeQueue=${QUEUE_NAME}&status=delayed&page=1`);
    expect(listing.status).toBe(200);
    const queues = ((await listing.json()) as { queues: Array<{ name: string; readOnlyMode: boolean; jobs: Array<{ id: string }> }> }).queues;
    expect(queues.map((entry) => [entry.name, entry.readOnlyMode, entry.jobs.map((job) => job.id)])).toEqual([[QUEUE_NAME, true, [delayed.id]]]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
