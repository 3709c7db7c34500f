// The request-budget part of `npm run bench`: how close to a server's rate limit a sync keeps
// its successful requests, writing (sync) and not (dry run), each against a fresh simulator.
import { startSimulator } from '../src/simulator/index.js';
import { runCli, seconds } from './measure.js';
import { clientEnv, dropDatabase, freshDatabase, summaryOf, table, type BenchContext } from './setup.js';

export interface RatesOptions {
  limits: number[];
  accounts: number;
  pageSize: number;
}

export async function benchRates(ctx: BenchContext, options: RatesOptions): Promise<void> {
  const { accounts, pageSize } = options;
  console.log(`\nshared request budget — ${accounts.toLocaleString('en')} accounts in pages of ${pageSize}, concurrency ${ctx.concurrency}`);
  for (const limit of options.limits) {
    for (const mode of ['sync', 'dry run'] as const) {
      const simulator = await startSimulator({ accounts, seed: 2 });
      const name = `account_sync_bench_rate_${limit}`;
      const url = await freshDatabase(ctx, name);
      try {
        simulator.faults.setRateLimit(limit);
        const args = mode === 'sync' ? ['sync', '--json'] : ['sync', '--dry-run', '--json'];
        const run = await runCli(args, clientEnv(ctx, simulator, url, { SYNC_PAGE_SIZE: String(pageSize) }));
        summaryOf(run);
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
        await dropDatabase(ctx, name);
      }
    }
  }
}
