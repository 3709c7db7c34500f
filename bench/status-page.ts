// How fast the status page answers on a large mirror: `npm run bench:status`.
// Builds (or reuses, with --database-url) a mirror of test/analytics/perf-fixture.sql (1M
// accounts created over a year, ~2.1M status changes), serves the status page from the health
// server as the worker does, and times what a browser asks for: the page, /status/api/live on
// every poll, /status/api/figures for each range, cold (nothing cached) and warm. The mirror
// also holds a year of webhook events (one per status change, as Upvest would send them) and a
// busy last hour, which the Webhooks section reads on every poll.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, escapeIdentifier } from 'pg';
import { withDatabaseName } from '../src/db/database-url.js';
import { migrate } from '../src/db/migrate.js';
import { createPrisma } from '../src/db/prisma.js';
import { startHealthServer } from '../src/health/server.js';
import { Registry } from 'prom-client';
import { silentLogger } from '../src/logger.js';
import { computeMirrorFigures } from '../src/status-page/figures.js';
import { createStatusPage } from '../src/status-page/routes.js';

const { values } = parseArgs({
  options: {
    'database-url': { type: 'string' },
    'admin-url': { type: 'string', default: process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    'database-name': { type: 'string', default: 'account_sync_status_bench' },
    requests: { type: 'string', default: '50' },
  },
});
const requests = Number(values.requests);
const logger = silentLogger();

const YEAR_OF_RUNS = `
  INSERT INTO sync_runs (mode, status, started_at, finished_at, page_size, total_count, pages, accounts_seen,
                         accounts_updated, accounts_unchanged, status_changes, error_code, error)
  SELECT CASE WHEN g % 96 = 0 THEN 'full' ELSE 'incremental' END,
         CASE WHEN g % 50 = 7 THEN 'failed' ELSE 'succeeded' END,
         now() - (35041 - g) * interval '15 minutes', now() - (35041 - g) * interval '15 minutes' + interval '40 seconds',
         1000, 1000000, 1, 1000, 250, 750, 240,
         CASE WHEN g % 50 = 7 THEN 'UPVEST_TIMEOUT' END, CASE WHEN g % 50 = 7 THEN 'GET /accounts timed out after 30000 ms' END
  FROM generate_series(1, 35040) g`;

// A year of webhook events, about as many as status changes (2.1M: 90% applied, 9% duplicates,
// 1% ignored), 50,000 applied within the last hour (a burst), and 200 still pending.
const YEAR_OF_WEBHOOK_EVENTS = `
  INSERT INTO webhook_events (dedupe_key, event_id, webhook_id, type, object_id, created_at_raw, created_at, created_at_nanos,
                              raw, key_id, received_at, last_received_at, outcome, processed_at)
  SELECT e.id::text, e.id, 'b838bde5-b6df-4f1f-bfc4-71d3fb01d430', e.type, gen_random_uuid()::text, e.created::text, e.created, 0,
         '{}'::jsonb, 'bench-key', e.created + interval '1 second', e.created + interval '1 second',
         e.outcome, CASE WHEN e.outcome IS NOT NULL THEN e.created + e.lag END
  FROM (
    SELECT gen_random_uuid() AS id, now() - interval '1 hour' - g * interval '15 seconds' AS created,
           CASE WHEN g % 100 = 0 THEN 'WEBHOOK.TEST' ELSE 'ACCOUNT.UPDATED' END AS type,
           CASE WHEN g % 100 = 0 THEN 'ignored' WHEN g % 11 = 0 THEN 'duplicate' ELSE 'applied' END AS outcome,
           (1 + random()) * interval '1 second' AS lag
    FROM generate_series(1, 2100000) g
    UNION ALL
    SELECT gen_random_uuid(), now() - g * interval '72 milliseconds', 'ACCOUNT.LOCKED', 'applied', (1 + 3 * random()) * interval '1 second'
    FROM generate_series(1, 50000) g
    UNION ALL
    SELECT gen_random_uuid(), now() - g * interval '10 milliseconds', 'ACCOUNT.UPDATED', NULL, interval '0'
    FROM generate_series(1, 200) g
  ) e`;

async function fixtureDatabase(): Promise<string> {
  const name = values['database-name']!;
  const url = withDatabaseName(values['admin-url']!, name);
  const admin = new Client({ connectionString: values['admin-url'] });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  if (!exists) await admin.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
  await admin.end();
  await migrate({ databaseUrl: url, logger });
  const db = new Client({ connectionString: url });
  await db.connect();
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM accounts');
  if (rows[0]!.n === 0) {
    process.stdout.write(`loading test/analytics/perf-fixture.sql into ${name} (about a minute and a half)...\n`);
    // One statement at a time: a string of several runs as one transaction, which VACUUM refuses.
    const fixture = readFileSync(new URL('../test/analytics/perf-fixture.sql', import.meta.url), 'utf8');
    for (const statement of fixture.split(/;\s*$/m).filter((text) => text.replace(/--.*$/gm, '').trim() !== '')) await db.query(statement);
  }
  // A year of runs every 15 minutes, as the daemon's default schedule leaves them (1 in 50 failed).
  if ((await db.query('SELECT 1 FROM sync_runs OFFSET 1000 LIMIT 1')).rowCount === 0) await db.query(YEAR_OF_RUNS);
  if ((await db.query('SELECT 1 FROM webhook_events LIMIT 1')).rowCount === 0) {
    process.stdout.write('adding a year of webhook events (about a minute)...\n');
    await db.query(YEAR_OF_WEBHOOK_EVENTS);
  }
  await db.query('ANALYZE sync_runs');
  await db.query('VACUUM ANALYZE webhook_events');
  await db.end();
  return url;
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(1)} ms, p95 ${at(0.95).toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`;
}

async function timed(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const started = performance.now();
  const response = await fetch(url);
  const body = await response.arrayBuffer();
  return { ms: performance.now() - started, bytes: body.byteLength, status: response.status };
}

const url = values['database-url'] ?? (await fixtureDatabase());
const prisma = createPrisma(url, { poolSize: 7 });
const size = await prisma.$queryRaw<Array<{ accounts: number; changes: number; events: number }>>`
  SELECT (SELECT count(*) FROM accounts)::int AS accounts, (SELECT count(*) FROM account_status_changes)::int AS changes,
         (SELECT count(*) FROM webhook_events)::int AS events`;
const page = createStatusPage({
  prisma,
  config: { enabled: true, pollMs: 2_000, refreshMs: 10_000, runs: 30, bullBoard: false, public: false },
  intervalMs: 15 * 60_000,
  logger,
});
const health = await startHealthServer({
  host: '127.0.0.1',
  port: 0,
  registry: new Registry(),
  readiness: { check: async () => ({ ready: true, checks: {} }), stop: () => undefined },
  logger,
  access: { credentials: null, loopbackOnly: true },
  routes: [{ prefix: '/status', audience: 'people', handle: page.handle }],
});
const base = `http://127.0.0.1:${health.port}`;
const out = (line: string) => process.stdout.write(`${line}\n`);
out(
  `status page benchmark — ${size[0]!.accounts.toLocaleString('en-US')} accounts, ${size[0]!.changes.toLocaleString('en-US')} status changes, ` +
    `${size[0]!.events.toLocaleString('en-US')} webhook events`,
);

const compute: number[] = [];
for (let i = 0; i < 3; i++) {
  const started = performance.now();
  await computeMirrorFigures(prisma, new Date());
  compute.push(performance.now() - started);
}
out(`  figures computed (background, cached)  ${stats(compute)}  (3 runs)`);
const cold = await timed(`${base}/status/api/figures?days=30`);
out(`  first /status/api/figures (cold cache) ${cold.ms.toFixed(1)} ms  (the only request that waits for the computation)`);

for (const path of ['/status', '/status/assets/status.js', '/status/api/live', '/status/api/figures?days=7', '/status/api/figures?days=30', '/status/api/figures?days=365']) {
  const samples: number[] = [];
  let bytes = 0;
  for (let i = 0; i < requests; i++) {
    const result = await timed(`${base}${path}`);
    if (result.status !== 200) throw new Error(`${path} answered ${result.status}`);
    samples.push(result.ms);
    bytes = result.bytes;
  }
  out(`  ${path.padEnd(38)} ${stats(samples)}  (${requests} requests, ${bytes.toLocaleString('en-US')} bytes)`);
}
// What a visitor's poll costs while figures are being recomputed: answered from the cache.
const during: number[] = [];
page.warm();
for (let i = 0; i < 10; i++) during.push((await timed(`${base}/status/api/figures?days=30`)).ms);
await page.idle();
out(`  /status/api/figures while recomputing  ${stats(during)}  (10 requests)`);

await health.close();
await prisma.$disconnect();
