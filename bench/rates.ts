// The request-budget part of `npm run bench`: how close to a server's rate limit a sync keeps
// its successful requests, writing (sync) and not (dry run), each against a fresh simulator:
// a token bucket of R a second that allows a second's burst (full at the start), and a strict
// one that allows none (a request every 1/R s, the harshest kind). The rate is the server's
// view: successful page requests between its first and last answer; the wall time includes
// the process starting.
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
    for (const [mode, burst] of [['sync', limit], ['dry run', limit], ['sync', 1]] as const) {
      const simulator = await startSimulator({ accounts, seed: 2 });
      const name = `account_sync_bench_rate_${limit}`;
      const url = await freshDatabase(ctx, name);
      try {
        simulator.faults.setRateLimit(limit, { burst });
        const args = mode === 'sync' ? ['sync', '--json'] : ['sync', '--dry-run', '--json'];
        const run = await runCli(args, clientEnv(ctx, simulator, url, { SYNC_PAGE_SIZE: String(pageSize) }));
        summaryOf(run);
        const throttled = simulator.stats.byStatus[429] ?? 0;
        const answers = simulator.stats.events.filter((e) => e.path === '/accounts' && e.status === 200);
        const ok = answers.length;
        const windowMs = answers.length < 2 ? run.wallMs : answers.at(-1)!.at - answers[0]!.at;
        // n answers span n - 1 intervals.
        const achieved = (ok - 1) / (windowMs / 1000);
        console.log(
          table([
            [
              `R = ${limit}/s${burst === 1 ? ' strict' : ''}, ${mode}`,
              `${achieved.toFixed(1)} successful requests/s (${((achieved / limit) * 100).toFixed(0)}% of R), ${throttled} answered 429, ` +
                `${ok} pages in ${seconds(windowMs)}; ${seconds(run.wallMs)} with the process starting`,
            ],
          ]),
        );
      } finally {
        await simulator.close();
        await dropDatabase(ctx, name);
      }
    }
  }
}
