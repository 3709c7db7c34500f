// The throughput part of `npm run bench`: a first sync of N accounts, the same walk without
// writing (fetch and parse only), an unchanged re-sync, one after 1% changed status, an
// incremental run, and PostgreSQL's own COPY of the same rows (with and without foreign keys)
// as the floor. Each sync is the real CLI in a child process, run as a user runs it.
import { openClient } from '../src/db/pg-client.js';
import { startSimulator } from '../src/simulator/index.js';
import { copyReference, type CopyReference } from './copy-reference.js';
import { BOOKKEEPING_TABLES, MIRROR_TABLES, mb, rowsBetween, runCli, seconds, settledRowsWritten, sumOf } from './measure.js';
import { clientEnv, dropDatabase, freshDatabase, summaryOf, table, type BenchContext } from './setup.js';
import { sampleTimeSpent, type TimeSpent } from './where-time-goes.js';

export interface ThroughputOptions {
  accounts: number;
  latencyMs: number;
  rateLimit: number | undefined;
  keep: boolean;
  /** 'tenant' (default): shaped like a real tenant's accounts; 'simple': the simulator's original shape. */
  data: 'tenant' | 'simple';
}

const progress = (line: string) => process.stderr.write(`bench: ${line}\n`);
const rate = (n: number, ms: number) => `${Math.round(n / (ms / 1000)).toLocaleString('en')}/s`;
const count = (n: number) => n.toLocaleString('en');

function perTable(rows: Record<string, number>): string {
  const written = Object.entries(rows).filter(([, n]) => n !== 0);
  return written.length === 0 ? 'none' : written.map(([t, n]) => `${t} ${count(n)}`).join(', ');
}

async function copyInto(ctx: BenchContext, source: Awaited<ReturnType<typeof openClient>>, name: string, foreignKeys: boolean): Promise<CopyReference> {
  const target = await openClient(await freshDatabase(ctx, name), 'account-sync bench copy');
  try {
    return await copyReference(source, target, { foreignKeys });
  } finally {
    await target.end();
  }
}

const SAMPLE_NOTE = 'about 50 ms apart';

async function backendPid(db: Awaited<ReturnType<typeof openClient>>): Promise<number> {
  const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

const SHAPE_TABLES = ['accounts', 'users', 'account_users', 'account_status_changes'] as const;

/** Rows in the mirror's tables after the first sync: the data's shape. */
async function rowsPerTable(db: Awaited<ReturnType<typeof openClient>>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of SHAPE_TABLES) {
    const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t}`);
    counts[t] = Number(rows[0]!.n);
  }
  return counts;
}

function dataShape(rows: Record<string, number>, accounts: number): string {
  const total = SHAPE_TABLES.reduce((sum, t) => sum + (rows[t] ?? 0), 0);
  const per = (t: string) => ((rows[t] ?? 0) / Math.max(1, accounts)).toFixed(2);
  return `${count(total)} rows: ${SHAPE_TABLES.map((t) => `${t} ${count(rows[t] ?? 0)}`).join(', ')} ` +
    `(${per('account_users')} links and ${per('users')} users per account)`;
}

/** transactionid: another writer's uncommitted row (shared users); advisory: the feed's turn. */
function byEvent(seconds: Record<string, number>): string {
  const parts = Object.entries(seconds).sort(([, a], [, b]) => b - a).map(([event, s]) => `${event} ${s.toFixed(2)} s`);
  return parts.length === 0 ? '' : `: ${parts.join(', ')}`;
}

const cpu = (s: number | undefined) => (s === undefined ? 'unknown' : `${s.toFixed(2)} s`);
const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? 'unknown' : `${(a / b).toFixed(2)}x`);

function timeTable(spent: TimeSpent, fetchMs: number, wallMs: number, simulatorCpuS: number): string {
  const pct = (s: number) => `${((100 * s * 1000) / wallMs).toFixed(0)}% of the wall time`;
  return table([
    ['fetch + parse', `${seconds(fetchMs)}  (the dry run: requests, decoding, validation)`],
    ['sync process CPU', `${spent.syncCpuS.toFixed(2)} s  (user + system, ${pct(spent.syncCpuS)})`],
    ['PostgreSQL CPU', `${spent.postgresCpuS.toFixed(2)} s  (the sync's backends, ${pct(spent.postgresCpuS)})`],
    ['simulator CPU', `${simulatorCpuS.toFixed(2)} s  (the bench process: the simulator serving, and the sampling)`],
    ['lock waits', `${spent.lockWaitS.toFixed(2)} s  (backend-seconds waiting on another's lock${byEvent(spent.lockWaitByEventS)})`],
    ['finish', `${spent.finishS.toFixed(2)} s  (index build, foreign keys added and validated)`],
  ]);
}

export async function benchThroughput(ctx: BenchContext, options: ThroughputOptions): Promise<void> {
  const { accounts } = options;
  const simulator = await startSimulator({ accounts, seed: 1, tenant: options.data === 'tenant' });
  if (options.latencyMs > 0) simulator.faults.setLatency(options.latencyMs);
  if (options.rateLimit) simulator.faults.setRateLimit(options.rateLimit);
  // Per process: two benches on one server (engineers sharing a machine) must not drop each other's.
  const base = `account_sync_bench_${process.pid}`;
  const names = { mirror: base, copy: `${base}_copy`, copyNoFk: `${base}_copy_nofk` };
  const url = await freshDatabase(ctx, names.mirror);
  const env = clientEnv(ctx, simulator, url);
  const db = await openClient(url, 'account-sync bench');
  try {
    progress(`${count(accounts)} accounts, pages of ${ctx.pageSize}, ${ctx.concurrency} at once`);

    let before = await settledRowsWritten(db);
    const sampler = sampleTimeSpent(db, names.mirror, [await backendPid(db)]);
    // The simulator serves from this process: its CPU, with the sampler's, is this process's.
    const benchCpu = process.cpuUsage();
    const first = await runCli(['sync', '--json'], env, (pid) => sampler.follow(pid));
    const spent = await sampler.stop();
    const used = process.cpuUsage(benchCpu);
    const simulatorCpuS = (used.user + used.system) / 1e6;
    summaryOf(first);
    let after = await settledRowsWritten(db);
    const written1 = rowsBetween(before, after);
    const shape = await rowsPerTable(db);
    progress(`first sync ${seconds(first.wallMs)}, peak RSS ${mb(first.peakRssBytes)}`);

    const fetchOnly = await runCli(['sync', '--dry-run', '--json'], env);
    summaryOf(fetchOnly);
    progress(`fetch and parse only ${seconds(fetchOnly.wallMs)}`);

    before = await settledRowsWritten(db);
    const second = await runCli(['sync', '--json'], env);
    summaryOf(second);
    after = await settledRowsWritten(db);
    const written2 = rowsBetween(before, after);
    progress(`unchanged re-sync ${seconds(second.wallMs)}, ${sumOf(written2, MIRROR_TABLES)} mirror rows written`);

    const changes = simulator.dataset.applyRandomChanges({ seed: 7, statusChanges: Math.floor(accounts / 100) });
    const third = await runCli(['sync', '--json'], env);
    const thirdSummary = summaryOf(third);
    const incremental = simulator.dataset.applyRandomChanges({ seed: 8, statusChanges: 500 });
    simulator.stats.reset();
    const fourth = await runCli(['sync', '--incremental', '--json'], { ...env, SYNC_INCREMENTAL_LAG_MS: '0' });
    const fourthSummary = summaryOf(fourth);
    const incrementalRequests = simulator.stats.byPath['/accounts'] ?? 0;

    // The copies take the rows as the first sync left them, so they go last but copy only those.
    const copy = await copyInto(ctx, db, names.copy, true);
    const copyNoFk = await copyInto(ctx, db, names.copyNoFk, false);

    const flags = ctx.nodeOptions ? `NODE_OPTIONS=${ctx.nodeOptions}` : 'run as shipped (no NODE_OPTIONS)';
    console.log(`\naccount-sync benchmark — ${count(accounts)} accounts (${options.data} data), pages of ${ctx.pageSize}, concurrency ${ctx.concurrency}, ${flags}`);
    console.log(
      table([
        ['data', dataShape(shape, accounts)],
        ['1. first full sync', `${seconds(first.wallMs)}  (${rate(accounts, first.wallMs)}, peak RSS ${mb(first.peakRssBytes)}, ${count(sumOf(written1, MIRROR_TABLES))} mirror rows written)`],
        ['   fetch + parse only', `${seconds(fetchOnly.wallMs)}  (the same walk, nothing written; peak RSS ${mb(fetchOnly.peakRssBytes)})`],
        ['2. unchanged re-sync', `${seconds(second.wallMs)}  (${(second.wallMs / fetchOnly.wallMs).toFixed(2)}x fetch + parse, peak RSS ${mb(second.peakRssBytes)})`],
        ['   mirror rows written', perTable(Object.fromEntries(MIRROR_TABLES.map((t) => [t, written2[t] ?? 0])))],
        ['   bookkeeping rows', perTable(Object.fromEntries(BOOKKEEPING_TABLES.map((t) => [t, written2[t] ?? 0])))],
        ['3. after 1% changed status', `${seconds(third.wallMs)}  (${thirdSummary.status_changes} status changes recorded of ${changes.statusChanges.length} made, peak RSS ${mb(third.peakRssBytes)})`],
        ['   incremental, 500 changed', `${seconds(fourth.wallMs)}  (${incrementalRequests} requests, ${fourthSummary.pages} pages, ${fourthSummary.status_changes} of ${incremental.statusChanges.length} status changes)`],
        ['4. COPY, foreign keys on', `${seconds(copy.ms)}  (PostgreSQL CPU ${cpu(copy.postgresCpuS)}; ${count(copy.rows)} rows: ${copy.perTable.map((t) => `${t.table} ${seconds(t.ms)}`).join(', ')})`],
        ['   COPY, no foreign keys', `${seconds(copyNoFk.ms)}  (PostgreSQL CPU ${cpu(copyNoFk.postgresCpuS)})`],
        ['first sync / COPY with FKs', `${(first.wallMs / copy.ms).toFixed(2)}x`],
        ['first sync / COPY no FKs', `${(first.wallMs / copyNoFk.ms).toFixed(2)}x`],
      ]),
    );
    console.log(`\nwhere the first sync's time goes (${seconds(first.wallMs)} wall, ${spent.samples} samples ${SAMPLE_NOTE}):`);
    console.log(timeTable(spent, fetchOnly.wallMs, first.wallMs, simulatorCpuS));
    // On a machine others share, wall times follow their load; CPU seconds much less so.
    console.log(
      table([
        ['first sync PostgreSQL CPU / COPY with FKs', ratio(spent.postgresCpuS, copy.postgresCpuS)],
        ['first sync PostgreSQL CPU / COPY no FKs', ratio(spent.postgresCpuS, copyNoFk.postgresCpuS)],
      ]),
    );
  } finally {
    await db.end();
    await simulator.close();
    if (!options.keep) for (const name of Object.values(names)) await dropDatabase(ctx, name);
  }
}
