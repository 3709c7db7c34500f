// `npm run bench`: how fast and how lean account-sync mirrors N accounts, against PostgreSQL's
// own COPY, run the way a user runs it (the built CLI, no NODE_OPTIONS unless asked).
//   npm run bench -- --accounts 1000000 --page-size 1000 --concurrency 4 [--latency MS] [--rate-limit RPS]
//   npm run bench -- --rates 20,100        (only the shared request budget, pages of 100)
//   npm run bench -- --webhooks-only       (only the webhook path)
//   npm run bench -- --node-options "--max-old-space-size=256"
//   npm run bench -- --parts throughput,worker   (any of throughput, worker, rates, webhooks)
// Each part prints its own table. Not part of the test suite.
import { parseArgs } from 'node:util';
import { benchRates } from './rates.js';
import { benchContext } from './setup.js';
import { benchThroughput } from './throughput.js';
import { benchWebhooks } from './webhooks.js';
import { benchWorkerMemory } from './worker-memory.js';

const USAGE = `usage: npm run bench -- [--accounts N] [--page-size N] [--concurrency N] [--latency MS] [--rate-limit RPS]
                     [--parts throughput,worker,rates,webhooks] [--rates R,R,...] [--webhooks-only]
                     [--worker-accounts N] [--rate-accounts N] [--rate-page-size N] [--node-options "..."] [--keep]
                     [--database-url URL] [--redis-url URL] [--data tenant|simple]

  --data tenant   the simulator's accounts shaped like a real tenant's: joint accounts, owners of
                  several groups (1.2 links, 0.88 users per account; the default)
  --data simple   the simulator's original shape (1.06 links, 0.6 users per account)`;

let parsed;
try {
  parsed = parseArgs({ options: benchOptions() });
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (parsed.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const { values } = parsed;

function benchOptions() {
  return {
    accounts: { type: 'string', default: '1000000' },
    'page-size': { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '4' },
    latency: { type: 'string', default: '0' },
    'rate-limit': { type: 'string' },
    rates: { type: 'string' },
    'rate-accounts': { type: 'string', default: '20000' },
    'rate-page-size': { type: 'string', default: '100' },
    'worker-accounts': { type: 'string', default: '200000' },
    'database-url': { type: 'string', default: process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' },
    'redis-url': { type: 'string', default: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379' },
    'node-options': { type: 'string' },
    keep: { type: 'boolean', default: false },
    data: { type: 'string', default: 'tenant' },
    'webhooks-only': { type: 'boolean', default: false },
    parts: { type: 'string', default: 'throughput,worker,rates,webhooks' },
    help: { type: 'boolean', default: false },
  } as const;
}

if (values.data !== 'tenant' && values.data !== 'simple') {
  process.stderr.write(`bench: --data must be tenant or simple, got "${values.data}"\n${USAGE}\n`);
  process.exit(2);
}
const data: 'tenant' | 'simple' = values.data;

const ctx = benchContext({
  adminUrl: values['database-url'],
  pageSize: Number(values['page-size']),
  concurrency: Number(values.concurrency),
  nodeOptions: values['node-options'],
});
const rateOptions = { accounts: Number(values['rate-accounts']), pageSize: Number(values['rate-page-size']) };

try {
  if (values.rates) {
    await benchRates(ctx, { ...rateOptions, limits: values.rates.split(',').map(Number) });
  } else if (values['webhooks-only']) {
    await benchWebhooks(ctx.adminUrl);
  } else {
    const parts = new Set(values.parts.split(','));
    if (parts.has('throughput')) {
      await benchThroughput(ctx, {
        accounts: Number(values.accounts),
        latencyMs: Number(values.latency),
        rateLimit: values['rate-limit'] ? Number(values['rate-limit']) : undefined,
        keep: values.keep,
        data,
      });
    }
    if (parts.has('worker')) await benchWorkerMemory(ctx, { accounts: Number(values['worker-accounts']), redisUrl: values['redis-url'] });
    if (parts.has('rates')) await benchRates(ctx, { ...rateOptions, limits: [20, 100] });
    if (parts.has('webhooks')) await benchWebhooks(ctx.adminUrl);
  }
} finally {
  ctx.close();
}
