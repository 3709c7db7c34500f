// The webhook path's benchmark (part of `npm run bench`; `npm run bench -- --webhooks-only` for
// just this): how long a change at Upvest takes to reach the mirror and the change feed, and how
// many events a receiver applies per second.
//   1. A mirror of N accounts, synced once from the simulator (a child `sync`).
//   2. `account-sync receiver` in a child process, subscribed as `webhooks register` does, the
//      simulator sending with a delay of 1 s (Upvest's minimum) on its real clock.
//   3. A steady trickle of status changes at random moments: each one's lag from the change to
//      the commit of its status change in the mirror (the writer's NOTIFY, read here), and to
//      the line `account-sync changes --follow --json` (a child) prints for it.
//   4. A burst of changes made at once: how soon they are all in the mirror, and the rate at
//      which the receiver took them in and applied them (from webhook_events).
import { escapeIdentifier } from 'pg';
import { withDatabaseName } from '../src/db/database-url.js';
import { migrate } from '../src/db/migrate.js';
import { openClient } from '../src/db/pg-client.js';
import { silentLogger } from '../src/logger.js';
import type { Simulator } from '../src/simulator/index.js';
import { startStandaloneSimulator } from '../src/simulator/standalone.js';
import { runCli, seconds } from './measure.js';
import { epochMs, percentile, spawnLines, wallMs, watchCommits, whenDone, type LineProcess } from './webhook-probes.js';

export interface WebhookBenchOptions {
  accounts: number;
  /** Status changes of the steady trickle, and over how long. */
  trickle: number;
  trickleMs: number;
  /** Status changes made at once. */
  burst: number;
}

const DEFAULTS: WebhookBenchOptions = { accounts: 50_000, trickle: 600, trickleMs: 15_000, burst: 20_000 };
const DATABASE = 'account_sync_bench_webhooks';
const WAIT_MS = 120_000;

export async function benchWebhooks(adminUrl: string, options: Partial<WebhookBenchOptions> = {}): Promise<void> {
  const o = { ...DEFAULTS, ...options };
  const url = await resetDatabase(adminUrl, true);
  const standalone = await startStandaloneSimulator({ accounts: o.accounts, seed: 3 });
  const { simulator } = standalone;
  const children: LineProcess[] = [];
  const db = await openClient(url, 'account-sync bench webhooks');
  try {
    const env = { ...standalone.env, DATABASE_URL: url, LOG_LEVEL: 'warn' };
    const sync = await runCli(['sync', '--json'], env);
    if (sync.code !== 0) throw new Error(`sync exited ${sync.code}: ${sync.stderr.slice(-2000)}`);

    const receiver = spawnLines(['receiver'], { ...env, WEBHOOK_RECEIVER_HOST: '127.0.0.1', WEBHOOK_RECEIVER_PORT: '0', WEBHOOK_RECEIVER_HEALTH_PORT: '0', LOG_LEVEL: 'info' });
    children.push(receiver);
    const started = JSON.parse(await receiver.line((l) => l.includes('"webhook receiver started"'), 'receiver start')) as { receiverPort: number };
    const registered = await runCli(['webhooks', 'register', '--url', `http://127.0.0.1:${started.receiverPort}/webhooks/upvest`, '--delay', '1s'], env);
    if (registered.code !== 0) throw new Error(`webhooks register exited ${registered.code}: ${registered.stderr}`);

    const { rows } = await db.query<{ max: string }>('SELECT coalesce(max(id), 0)::text AS max FROM account_status_changes');
    const since = BigInt(rows[0]!.max);
    const toMirror: number[] = [];
    const toFeed: number[] = [];
    let committed = 0;
    let printed = 0;
    const lastCommit = { at: 0 };
    const progress = new Set<() => void>();
    await watchCommits(db, since, (changedAt, at) => {
      committed++;
      lastCommit.at = at;
      if (committed <= o.trickle) toMirror.push(at - changedAt);
      for (const tick of progress) tick();
    });
    const feed = spawnLines(['changes', '--follow', '--json', '--since', since.toString()], { DATABASE_URL: url, LOG_LEVEL: 'warn' }, (line, at) => {
      if (!line.startsWith('{')) return;
      printed++;
      if (printed <= o.trickle) toFeed.push(at - epochMs((JSON.parse(line) as { changed_at: string }).changed_at));
      for (const tick of progress) tick();
    });
    children.push(feed);

    const flip = statusFlipper(simulator);
    const trickle = whenDone(() => committed >= o.trickle && printed >= o.trickle, 'the trickle', WAIT_MS);
    progress.add(trickle.tick);
    for (let i = 0; i < o.trickle; i++) {
      // Exponential gaps: changes at random moments, o.trickle of them over about o.trickleMs.
      await new Promise((resolve) => setTimeout(resolve, -Math.log(1 - Math.random()) * (o.trickleMs / o.trickle)));
      flip();
    }
    await trickle.finished;
    progress.delete(trickle.tick);

    const burst = whenDone(() => committed >= o.trickle + o.burst, 'the burst', WAIT_MS);
    progress.add(burst.tick);
    const burstStart = wallMs();
    for (let i = 0; i < o.burst; i++) flip();
    const madeIn = wallMs() - burstStart;
    await burst.finished;
    const allIn = lastCommit.at - burstStart;
    const intake = await db.query<{ received_s: number; applied_s: number }>(
      `SELECT extract(epoch FROM max(received_at) - min(received_at))::float8 AS received_s,
              extract(epoch FROM max(processed_at) - min(received_at))::float8 AS applied_s
       FROM (SELECT received_at, processed_at FROM webhook_events ORDER BY seq DESC LIMIT $1) burst`,
      [o.burst],
    );
    const { received_s: receivedS, applied_s: appliedS } = intake.rows[0]!;

    const ms = (v: number) => `${(v / 1000).toFixed(2)} s`;
    const rate = (n: number, s: number) => `${Math.round(n / s).toLocaleString('en')} events/s`;
    console.log(
      `\nwebhooks — ${o.accounts.toLocaleString('en')} accounts mirrored; the simulator sends with a delay of 1 s (Upvest's minimum), the receiver runs in a child process`,
    );
    const lagLabel = `lag, ${o.trickle} status changes over ${seconds(o.trickleMs)}`;
    const burstLabel = `burst of ${o.burst.toLocaleString('en')} status changes`.padEnd(lagLabel.length);
    console.log(
      `  ${lagLabel}  to the mirror p50 ${ms(percentile(toMirror, 0.5))}, p99 ${ms(percentile(toMirror, 0.99))}; ` +
        `to the change feed (changes --follow) p50 ${ms(percentile(toFeed, 0.5))}, p99 ${ms(percentile(toFeed, 0.99))}`,
    );
    console.log(
      `  ${burstLabel}  all in the mirror ${ms(allIn)} after the first was made (made within ${ms(madeIn)}); ` +
        `received at ${rate(o.burst, receivedS)}, applied at ${rate(o.burst, appliedS)}`,
    );
  } finally {
    for (const child of children) await child.stop();
    await db.end();
    await standalone.close();
    await resetDatabase(adminUrl, false);
  }
}

/** Each call moves one account between ACTIVE and LOCKED, taking the accounts in turn. */
function statusFlipper(simulator: Simulator): () => void {
  const accounts = simulator.dataset.list().map((a) => ({ id: a.id, status: a.status }));
  let next = 0;
  return () => {
    const account = accounts[next++ % accounts.length]!;
    account.status = account.status === 'ACTIVE' ? 'LOCKED' : 'ACTIVE';
    simulator.dataset.setStatus(account.id, account.status);
  };
}

/** Drops the benchmark's database; with `create`, creates and migrates it afresh and returns its URL. */
async function resetDatabase(adminUrl: string, create: boolean): Promise<string> {
  const admin = await openClient(adminUrl, 'account-sync bench webhooks');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(DATABASE)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const url = withDatabaseName(adminUrl, DATABASE);
  if (create) await migrate({ databaseUrl: url, logger: silentLogger() });
  return url;
}
