// The production tree doing its job, every program of it a child process under
// NODE_ENV=production against the simulator of the same tree: migrate; the worker, whose
// scheduled run mirrors the tenant and whose /healthz, /readyz, /metrics and status page answer;
// sync after the tenant changed; the receiver, which stores and applies the signed deliveries of
// the next changes; status --json, changes --since 0 and grant-readonly reading the result.
// Each step ends with the mirror compared, row for row, with what the simulator serves.
import { randomBytes } from 'node:crypto';
import { Client, escapeIdentifier } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/index.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { listMigrations } from '../../src/db/migration-files.js';
import type { CliProcess } from '../support/cli.js';
import { deleteKeys, httpGet, metric, openTestQueue, pollUntil, REDIS_URL, uniquePrefix } from '../support/daemon.js';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/database.js';
import {
  build,
  byId,
  mirrorById,
  servedAccounts,
  shippedRun,
  shippedSpawn,
  startShippedSimulator,
  VERSION,
  type ShippedSimulator,
} from './support.js';

const ACCOUNTS = 1200;
const role = `as_test_shipped_${randomBytes(4).toString('hex')}`;
const { tree, commit } = build();
const RELEASE = `${VERSION}+${commit}`;

let db: TestDatabase;
let prisma: PrismaClient;
let simulator: ShippedSimulator;
let env: Env;
let prefix: string;
const running: CliProcess[] = [];

beforeAll(async () => {
  db = await createTestDatabase('shipped_e2e', { migrate: false });
  prisma = createPrisma(db.url, { poolSize: 2 });
  simulator = await startShippedSimulator(['--accounts', String(ACCOUNTS), '--seed', '21']);
  prefix = uniquePrefix('shipped');
  env = { ...simulator.env, DATABASE_URL: db.url, LOG_LEVEL: 'info' };
});

afterAll(async () => {
  for (const cli of running) cli.kill('SIGKILL');
  await simulator?.stop();
  await prisma?.$disconnect();
  await db?.drop();
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
  await admin.end();
});

const spawn = (args: string[], extra: Env = {}) => {
  const cli = shippedSpawn(args, { ...env, ...extra });
  running.push(cli);
  return cli;
};
const stop = async (cli: CliProcess) => {
  cli.kill('SIGTERM');
  expect(await cli.exited).toEqual({ code: 0, signal: null });
};
const mirrorIsServed = async () => expect(await mirrorById(prisma)).toEqual(await servedAccounts(simulator.env));
const count = async (sql: string) => (await prisma.$queryRawUnsafe<Array<{ n: number }>>(`SELECT (${sql})::int AS n`))[0]!.n;

describe('the production tree, end to end', () => {
  it('migrate: creates the schema with every migration of the tree', async () => {
    const names = (await listMigrations(`${tree}/prisma/migrations`)).map((m) => m.name);
    const result = await shippedRun(['migrate'], env);
    expect(result).toMatchObject({ code: 0, stderr: expect.not.stringContaining('"level":50') });
    expect(result.stdout).toBe(`Applied ${names.length} migrations (${names.join(', ')}) to ${db.name}.\n`);
    const applied = await prisma.$queryRaw<Array<{ name: string }>>`
      SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1`;
    expect(applied.map((a) => a.name)).toEqual(names);
  });

  it('worker: a scheduled run mirrors the simulator exactly; /healthz, /readyz, /metrics and the status page answer', async () => {
    const q = await openTestQueue(prefix);
    try {
      // A fresh queue: the worker creates its schedule, which fires at once (a start-up request may come first).
      const scheduled = new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no scheduled run completed within 120 s')), 120_000);
        q.events.on('completed', ({ jobId }) => {
          void q.queue.getJob(jobId).then((job) => {
            if (job?.data.reason !== 'schedule') return;
            clearTimeout(timer);
            resolve(job.returnvalue as unknown as Record<string, unknown>);
          });
        });
      });
      const worker = spawn(['worker'], { REDIS_URL, QUEUE_PREFIX: prefix, HEALTH_HOST: '127.0.0.1', HEALTH_PORT: '0', SYNC_INTERVAL_MS: '60000' });
      const outcome = await Promise.race([scheduled, worker.exited.then(({ code }) => ({ workerExited: code }))]);
      expect(outcome, worker.stderr().slice(-2000)).toMatchObject({ status: 'succeeded' });
      await mirrorIsServed();
      const runs = await prisma.syncRun.findMany({ orderBy: { id: 'asc' } });
      expect(runs[0]).toMatchObject({ status: 'succeeded', mode: 'full', accountsSeen: ACCOUNTS, accountsInserted: ACCOUNTS, release: RELEASE });

      const base = `http://127.0.0.1:${await worker.healthPort()}`;
      expect(await httpGet(`${base}/healthz`)).toEqual({ status: 200, body: '{"status":"alive"}\n' });
      const ready = await httpGet(`${base}/readyz`);
      expect([ready.status, JSON.parse(ready.body)]).toEqual([
        200,
        { status: 'ready', ready: true, checks: { redis: { up: true }, database: { up: true }, schema: { up: true } } },
      ]);
      const metrics = await httpGet(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metric(metrics.body, `account_sync_build_info{version="${VERSION}",commit="${commit}"}`)).toBe(1);
      expect(metric(metrics.body, 'account_sync_runs_total{outcome="succeeded"}')).toBe(runs.filter((r) => r.status === 'succeeded').length);
      const page = await httpGet(`${base}/status`);
      expect(page.status).toBe(200);
      expect(page.body).toContain(`<span id="release">account-sync ${VERSION} (commit ${commit})</span>`);
      for (const asset of ['status.js', 'status.css', 'uPlot.iife.min.js']) expect((await httpGet(`${base}/status/assets/${asset}`)).status).toBe(200);
      const live = await httpGet(`${base}/status/api/live`);
      expect(live.status).toBe(200);
      expect(JSON.parse(live.body)).toMatchObject({ state: 'ok' });
      await stop(worker);
    } finally {
      await deleteKeys(q.connection, prefix);
      await q.close();
    }
  });

  it('sync: after the tenant changed, a run makes the mirror what the simulator serves again', async () => {
    await simulator.change();
    const result = await shippedRun(['sync', '--json'], env);
    expect([result.code, result.stderr.includes('"level":50')]).toEqual([0, false]);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ status: 'succeeded', mode: 'full', deletions: 1 });
    await mirrorIsServed();
    expect(await prisma.syncRun.findUniqueOrThrow({ where: { id: BigInt(summary.run_id as string) } })).toMatchObject({ release: RELEASE });
  });

  it('receiver: the signed deliveries of the next changes are stored and applied', async () => {
    const receiver = spawn(['receiver'], { WEBHOOK_RECEIVER_HOST: '127.0.0.1', WEBHOOK_RECEIVER_PORT: '0', WEBHOOK_RECEIVER_HEALTH_PORT: '0' });
    const started = await receiver.waitForLog((l) => l.msg === 'webhook receiver started', 'the receiver');
    const url = `http://127.0.0.1:${started.receiverPort as number}/webhooks/upvest`;
    const registered = await shippedRun(['webhooks', 'register', '--url', url, '--types', 'ACCOUNT', '--json'], env);
    expect(registered.code).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ enabled: true, type: ['ACCOUNT'], url });

    const before = await mirrorById(prisma);
    await simulator.change();
    const round = simulator.cli.lines.filter((l) => l.msg === 'simulator changed accounts').at(-1)!;
    // One event per change but removals (Upvest has no deletion event).
    const events = ['statusChanges', 'renames', 'added', 'userChanges'].reduce((n, key) => n + (round[key] as number), 0);
    await pollUntil(async () => (await count(`SELECT count(*) FROM webhook_events WHERE outcome IS NOT NULL`)) === events, 'the events to be applied', {
      timeoutMs: 60_000,
    });
    const outcomes = await prisma.$queryRaw<Array<{ outcome: string; type: string; n: number }>>`
      SELECT outcome, split_part(type, '.', 1) AS type, count(*)::int AS n FROM webhook_events GROUP BY 1, 2`;
    expect(outcomes).toEqual([{ outcome: 'applied', type: 'ACCOUNT', n: events }]);

    // Every account the simulator lists is in the mirror as served; the one it removed is still
    // there, live (no event says so: the next full sync finds out).
    const served = await servedAccounts(simulator.env);
    const servedIds = new Set(served.map((a) => a.id));
    const mirror = await mirrorById(prisma);
    expect(mirror.filter((a) => servedIds.has(a.id))).toEqual(served);
    const removed = mirror.filter((a) => !servedIds.has(a.id));
    expect([removed.length, removed.every((a) => before.some((b) => b.id === a.id))]).toEqual([round.removed, true]);
    expect(await count(`SELECT count(*) FROM account_status_changes WHERE source = 'webhook' AND webhook_event_id IS NOT NULL`)).toBeGreaterThan(0);

    const metrics = (await httpGet(`http://127.0.0.1:${started.healthPort as number}/metrics`)).body;
    expect(metric(metrics, `account_sync_build_info{version="${VERSION}",commit="${commit}"}`)).toBe(1);
    expect(metric(metrics, 'account_sync_webhook_events_applied_total{outcome="applied"}')).toBe(events);
    await stop(receiver);

    const synced = await shippedRun(['sync'], env);
    expect(synced.code).toBe(0);
    await mirrorIsServed();
  });

  it('status --json, changes --since 0 and grant-readonly read the mirror as it is', async () => {
    const status = await shippedRun(['status', '--json'], env);
    expect([status.code, status.stderr]).toEqual([0, '']);
    const report = JSON.parse(status.stdout) as { state: string; accounts: { live: number; deleted: number }; last_success: { run_id: number } };
    const lastRun = await prisma.syncRun.findFirstOrThrow({ where: { status: 'succeeded' }, orderBy: { id: 'desc' } });
    expect(report).toMatchObject({
      state: 'ok',
      accounts: { live: (await servedAccounts(simulator.env)).length, deleted: await count('SELECT count(*) FROM accounts WHERE deleted_at IS NOT NULL') },
      last_success: { run_id: Number(lastRun.id) },
    });

    const changes = await shippedRun(['changes', '--since', '0', '--json'], env);
    expect([changes.code, changes.stderr]).toEqual([0, '']);
    const fed = changes.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    const stored = await prisma.$queryRaw<Array<{ id: number; account_id: string; to_status: string; source: string }>>`
      SELECT id::int, account_id::text, to_status, source FROM account_status_changes ORDER BY id`;
    expect(fed.map(({ id, account_id, to_status, source }) => ({ id, account_id, to_status, source }))).toEqual(stored);
    expect(new Set(stored.map((c) => c.source))).toEqual(new Set(['sync', 'webhook']));

    const granted = await shippedRun(['grant-readonly', role, '--login', '--json'], env);
    expect([granted.code, granted.stderr]).toEqual([0, '']);
    const url = new URL(db.url);
    url.username = role;
    const reader = new Client({ connectionString: url.toString() });
    await reader.connect();
    try {
      const { rows } = await reader.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts');
      expect(rows[0]!.n).toBe(await count('SELECT count(*) FROM accounts'));
      const refused = await reader.query(`UPDATE accounts SET name = 'x'`).catch((error: { code?: string }) => error.code);
      // The role's transactions are read-only (25006), whatever it tries to change.
      expect(refused).toBe('25006');
    } finally {
      await reader.end();
    }
    expect((await mirrorById(prisma)).sort(byId)).toEqual(await servedAccounts(simulator.env));
  });
});
