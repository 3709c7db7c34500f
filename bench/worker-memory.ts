// The daemon's part of `npm run bench`: the worker's resident memory idle after start, at its
// peak during a full run (asked for with `trigger --wait`), and resting after it. The mirror is
// synced first by the CLI and that run dated two days back, so the worker neither runs at
// start nor takes the run it is asked for as an incremental one; a tenth of the accounts
// change status upstream before it.
import { createServer } from 'node:net';
import { openClient } from '../src/db/pg-client.js';
import { startSimulator } from '../src/simulator/index.js';
import { mb, runCli, seconds, startCli } from './measure.js';
import { clientEnv, dropDatabase, freshDatabase, summaryOf, table, type BenchContext } from './setup.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function until(ready: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchWorkerMemory(ctx: BenchContext, options: { accounts: number; redisUrl: string }): Promise<void> {
  const simulator = await startSimulator({ accounts: options.accounts, seed: 3 });
  const name = 'account_sync_bench_worker';
  const url = await freshDatabase(ctx, name);
  const port = await freePort();
  const env = clientEnv(ctx, simulator, url, {
    REDIS_URL: options.redisUrl,
    QUEUE_PREFIX: `account-sync-bench-${process.pid}`,
    // Only the run the bench asks for: the schedule's next firing is months away.
    SYNC_CRON: '0 0 1 1 *',
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: String(port),
  });
  summaryOf(await runCli(['sync', '--json'], env));
  const db = await openClient(url, 'account-sync bench');
  try {
    await db.query(`UPDATE sync_runs SET started_at = started_at - interval '2 days', finished_at = finished_at - interval '2 days'`);
  } finally {
    await db.end();
  }
  const changes = simulator.dataset.applyRandomChanges({ seed: 9, statusChanges: Math.floor(options.accounts / 10) });
  const worker = startCli(['worker'], env);
  try {
    await until(async () => {
      const response = await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined);
      return response?.status === 200;
    }, 'the worker to be ready');
    // Settled: what the worker holds between runs, before its first.
    await pause(5_000);
    const idle = worker.rss();
    const run = await runCli(['trigger', '--wait', '--json'], env);
    const result = (summaryOf(run).result ?? {}) as { statusChanges?: number };
    const peak = worker.peak();
    await pause(10_000);
    const after = worker.rss();
    console.log(
      `\nworker (the daemon) — a full run of ${options.accounts.toLocaleString('en')} accounts, pages of ${ctx.pageSize}, ` +
        `${result.statusChanges ?? '?'} of ${changes.statusChanges.length} status changes recorded`,
    );
    console.log(
      table([
        ['idle after start', mb(idle)],
        ['peak during the run', `${mb(peak)}  (run took ${seconds(run.wallMs)} from trigger to end)`],
        ['resting after the run', mb(after)],
      ]),
    );
  } finally {
    const code = await worker.stop();
    if (code !== 0) process.stderr.write(`bench: the worker exited ${code}: ${worker.output().slice(-2000)}\n`);
    await simulator.close();
    await dropDatabase(ctx, name);
  }
}
