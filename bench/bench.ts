// `npm run bench`: how fast account-sync mirrors N accounts, against PostgreSQL's own COPY.
//   npm run bench -- --accounts 1000000 --page-size 1000 --concurrency 4 [--latency MS] [--rate-limit RPS]
//   npm run bench -- --rates 5,20,100      (the shared request budget against rate-limited servers)
// Starts the simulator in this process, syncs in a child process (so its memory is its own),
// and prints what it measured. Not part of the test suite.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { escapeIdentifier } from 'pg';
import { withDatabaseName } from '../src/db/database-url.js';
import { migrate } from '../src/db/migrate.js';
import { openClient } from '../src/db/pg-client.js';
import { silentLogger } from '../src/logger.js';
import { startSimulator, type Simulator } from '../src/simulator/index.js';
import { copyReference } from './copy-reference.js';
import { mb, runCli, seconds, settledRowsWritten, type ChildRun } from './measure.js';
import { benchWebhooks } from './webhooks.js';

const { values } = parseArgs({
  options: {
    accounts: { type: 'string', default: '1000000' },
    'page-size': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    latency: { type: 'string', default: '0' },
    'rate-limit': { type: 'string' },
    rates: { type: 'string' },
    'rate-accounts': { type: 'string', default: '20000' },
    'rate-page-size': { type: 'string', default: '100' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    keep: { type: 'boolean', default: false },
    'webhooks-only': { type: 'boolean', default: false },
    // V8 grows its heap freely when memory is plentiful; the documented production setting caps it.
    'heap-mb': { type: 'string', default: '256' },
  },
});

const accounts = Number(values.accounts);
const pageSize = Number(values['page-size']);
const concurrency = Number(values.concurrency);
const adminUrl = values['database-url'];
const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-bench-'));

async function freshDatabase(name: string): Promise<string> {
  const admin = await openClient(adminUrl, 'account-sync bench');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(adminUrl, name);
  await migrate({ databaseUrl: url, logger: silentLogger() });
  return url;
}

async function dropDatabase(name: string): Promise<void> {
  const admin = await openClient(adminUrl, 'account-sync bench');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

function clientEnv(simulator: Simulator, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  const keyFile = join(keyDir, `key-${simulator.keyId}.pem`);
  writeFileSync(keyFile, simulator.privateKeyPem ?? '', { mode: 0o600 });
  return {
    DATABASE_URL: databaseUrl,
    UPVEST_BASE_URL: simulator.url,
    UPVEST_CLIENT_ID: simulator.clientId,
    UPVEST_CLIENT_SECRET: simulator.clientSecret,
    UPVEST_SIGNING_KEY_FILE: keyFile,
    UPVEST_SIGNING_KEY_ID: simulator.keyId,
    UPVEST_RETRY_MIN_DELAY_MS: '50',
    UPVEST_RETRY_MAX_DELAY_MS: '2000',
    UPVEST_RETRIES: '30',
    SYNC_PAGE_SIZE: String(pageSize),
    SYNC_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'warn',
    ...(Number(values['heap-mb']) > 0 ? { NODE_OPTIONS: `--max-old-space-size=${Number(values['heap-mb'])}` } : {}),
    ...extra,
  };
}

function summaryOf(run: ChildRun): Record<string, unknown> {
  if (run.code !== 0) throw new Error(`sync exited ${run.code}: ${run.stdout}${run.stderr.slice(-2000)}`);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

function table(rows: Array<[string, string]>): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

async function throughput(): Promise<void> {
  const simulator = await startSimulator({ accounts, seed: 1 });
  if (Number(values.latency) > 0) simulator.faults.setLatency(Number(values.latency));
  if (values['rate-limit']) simulator.faults.setRateLimit(Number(values['rate-limit']));
  const dbName = 'account_sync_bench';
  const refName = 'account_sync_bench_copy';
  const url = await freshDatabase(dbName);
  const env = clientEnv(simulator, url);
  const db = await openClient(url, 'account-sync bench');
  try {
    process.stderr.write(`bench: ${accounts} accounts, pages of ${pageSize}, ${concurrency} at once\n`);

    const before1 = await settledRowsWritten(db);
    const first = await runCli(['sync', '--json'], env);
    const firstSummary = summaryOf(first);
    const written1 = (await settledRowsWritten(db)) - before1;
    process.stderr.write(`bench: first sync ${seconds(first.wallMs)}\n`);

    const fetchOnly = await runCli(['sync', '--dry-run', '--json'], env);
    if (fetchOnly.code !== 0) throw new Error(`dry run failed: ${fetchOnly.stderr}`);
    process.stderr.write(`bench: fetch and parse only ${seconds(fetchOnly.wallMs)}\n`);

    const before2 = await settledRowsWritten(db);
    const second = await runCli(['sync', '--json'], env);
    summaryOf(second);
    const written2 = (await settledRowsWritten(db)) - before2;
    process.stderr.write(`bench: unchanged re-sync ${seconds(second.wallMs)}, ${written2} rows written\n`);

    const changes = simulator.dataset.applyRandomChanges({ seed: 7, statusChanges: Math.floor(accounts / 100) });
    const third = await runCli(['sync', '--json'], env);
    const thirdSummary = summaryOf(third);
    const incremental = simulator.dataset.applyRandomChanges({ seed: 8, statusChanges: 500 });
    simulator.stats.reset();
    const fourth = await runCli(['sync', '--incremental', '--json'], { ...env, SYNC_INCREMENTAL_LAG_MS: '0' });
    const fourthSummary = summaryOf(fourth);
    const incrementalRequests = simulator.stats.byPath['/accounts'] ?? 0;

    const reference = await freshDatabase(refName);
    const target = await openClient(reference, 'account-sync bench copy');
    const copy = await copyReference(db, target);
    await target.end();

    const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;
    const heap = Number(values['heap-mb']) > 0 ? `NODE_OPTIONS=--max-old-space-size=${values['heap-mb']}` : 'V8 heap defaults';
    console.log(`\naccount-sync benchmark — ${accounts.toLocaleString('en')} accounts, pages of ${pageSize}, concurrency ${concurrency}, ${heap}`);
    console.log(table([
      ['1. first full sync', `${seconds(first.wallMs)}  (${rate(accounts, first.wallMs)}, peak RSS ${mb(first.peakRssBytes)}, ${written1.toLocaleString('en')} rows written)`],
      ['   fetch + parse only', `${seconds(fetchOnly.wallMs)}  (peak RSS ${mb(fetchOnly.peakRssBytes)})`],
      ['2. unchanged re-sync', `${seconds(second.wallMs)}  (${written2} rows written, ${(second.wallMs / fetchOnly.wallMs).toFixed(2)}x fetch + parse, peak RSS ${mb(second.peakRssBytes)})`],
      ['3. after 1% changed status', `${seconds(third.wallMs)}  (${thirdSummary.status_changes} status changes recorded of ${changes.statusChanges.length} made)`],
      ['   incremental, 500 changed', `${seconds(fourth.wallMs)}  (${incrementalRequests} requests, ${fourthSummary.pages} pages, ${fourthSummary.status_changes} of ${incremental.statusChanges.length} status changes)`],
      ['4. reference COPY', `${seconds(copy.ms)}  (${copy.rows.toLocaleString('en')} rows: ${copy.perTable.map((t) => `${t.table} ${seconds(t.ms)}`).join(', ')})`],
      ['first sync / COPY', `${(first.wallMs / copy.ms).toFixed(2)}x`],
    ]));
  } finally {
    await db.end();
    await simulator.close();
    if (!values.keep) {
      await dropDatabase(dbName);
      await dropDatabase(refName);
    }
  }
}

async function rates(list: number[]): Promise<void> {
  const n = Number(values['rate-accounts']);
  const size = Number(values['rate-page-size']);
  console.log(`\nshared request budget — ${n.toLocaleString('en')} accounts in pages of ${size}, concurrency ${concurrency}`);
  for (const limit of list) {
    // Twice per limit: a real sync, and a dry run (fetch and validate only), which shows what the
    // budget does where writing is not what limits the pace.
    for (const mode of ['sync', 'dry run'] as const) {
      const simulator = await startSimulator({ accounts: n, seed: 2 });
      const name = `account_sync_bench_rate_${limit}`;
      const url = await freshDatabase(name);
      try {
        simulator.faults.setRateLimit(limit);
        const args = mode === 'sync' ? ['sync', '--json'] : ['sync', '--dry-run', '--json'];
        const run = await runCli(args, clientEnv(simulator, url, { SYNC_PAGE_SIZE: String(size) }));
        if (run.code !== 0) throw new Error(`${mode} exited ${run.code}: ${run.stdout}${run.stderr.slice(-2000)}`);
        const throttled = simulator.stats.byStatus[429] ?? 0;
        const ok = (simulator.stats.byPath['/accounts'] ?? 0) - throttled;
        const achieved = ok / (run.wallMs / 1000);
        console.log(
          table([
            [`R = ${limit}/s, ${mode}`, `${achieved.toFixed(1)} successful requests/s (${((achieved / limit) * 100).toFixed(0)}% of R), ${throttled} answered 429, ${ok} pages, ${seconds(run.wallMs)}`],
          ]),
        );
      } finally {
        await simulator.close();
        await dropDatabase(name);
      }
    }
  }
}

try {
  if (values.rates) await rates(values.rates.split(',').map(Number));
  else if (!values['webhooks-only']) await throughput();
  if (!values.rates) await benchWebhooks(adminUrl);
} finally {
  rmSync(keyDir, { recursive: true, force: true });
}
