// `npm run soak -- --minutes N [--seed S] [--accounts A] [--webhooks]`: proves, under faults,
// upstream changes, kills and restarts, that the mirror loses nothing (see docs/soak.md). Not
// part of `npm test`. Everything runs on this machine: the simulator in this process, a
// PostgreSQL cluster and a redis-server of the soak's own, and the real CLI (`node dist/cli.js`,
// built by the npm script) as `sync` processes and a worker. With --webhooks also a receiver
// (`account-sync receiver`), subscribed to the simulator, whose deliveries are duplicated,
// reordered and cut off and which is killed and restarted while the runs go on; at the end
// every delivery must have arrived, every event been applied once, and the history show every
// change upstream made that the mirror had not legitimately moved past (webhooks.ts). It
// prints what it measured, and exits 1 when it found a mismatch.
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { migrate } from '../src/db/migrate.js';
import { openClient } from '../src/db/pg-client.js';
import { silentLogger } from '../src/logger.js';
import { Prng } from '../src/simulator/hash.js';
import { startSimulator } from '../src/simulator/index.js';
import { accountRuns } from './accounting.js';
import { Changes } from './changes.js';
import { Checker } from './checker.js';
import { startCluster } from './cluster.js';
import { episode, type EpisodeStage } from './episode.js';
import { Figures, report } from './figures.js';
import { finalRuns } from './final.js';
import { checkHistory, seenBySuccessfulRuns } from './history-check.js';
import { checkFinal, foreignKeyMismatches, indexMismatches, loadMirror, loadRuns } from './mirror-check.js';
import { Processes, type Env, type Proc } from './processes.js';
import { Reads } from './reads.js';
import { startRedis } from './redis.js';
import { setUpstreamFaults } from './upstream-faults.js';
import { Upstream } from './upstream.js';
import { WEBHOOK_TIME_UNIT_MS, WebhookSoak } from './webhooks.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    accounts: { type: 'string', default: '4000' },
    webhooks: { type: 'boolean', default: false },
    // Writes wrong data into the mirror after the third check: the soak must then fail.
    sabotage: { type: 'boolean', default: false },
    log: { type: 'string', default: join(tmpdir(), 'account-sync-soak.log') },
  },
});
const minutes = Number(values.minutes);
const seed = Number(values.seed);
const PAGE_SIZE = 100;

const prng = new Prng(seed);
const figures = new Figures();
const simulator = await startSimulator({
  accounts: Number(values.accounts),
  seed,
  // A tenant's shape: accounts created in bulk share a created_at, which the server orders anew
  // on every request (as PostgreSQL does without a tie-breaker).
  bulkCreated: true,
  // Joint accounts and owners of several groups: writers of a first sync share users.
  tenant: true,
  shuffleTies: seed,
  tokenTtlSeconds: 30,
  // Upvest's webhook clock ten times fast: batches every 0.1 s, retries after 0.1, 0.2, 0.3 … s.
  ...(values.webhooks ? { webhookTimeUnitMs: WEBHOOK_TIME_UNIT_MS, webhookTimeoutMs: 5_000 } : {}),
});
const keyDir = mkdtempSync(join(tmpdir(), 'account-sync-soak-key-'));
writeFileSync(join(keyDir, 'key.pem'), simulator.privateKeyPem ?? '', { mode: 0o600 });
const upstream = new Upstream(simulator.dataset);
const cluster = await startCluster();
const redis = await startRedis();
let processes: Processes | undefined;
try {
  const databaseUrl = await cluster.createDatabase('account_sync_soak');
  await migrate({ databaseUrl, logger: silentLogger() });
  const baseEnv: Env = {
    DATABASE_URL: databaseUrl,
    UPVEST_BASE_URL: simulator.url,
    UPVEST_CLIENT_ID: simulator.clientId,
    UPVEST_CLIENT_SECRET: simulator.clientSecret,
    UPVEST_SIGNING_KEY_FILE: join(keyDir, 'key.pem'),
    UPVEST_SIGNING_KEY_ID: simulator.keyId,
    UPVEST_RETRIES: '12',
    UPVEST_RETRY_MIN_DELAY_MS: '20',
    UPVEST_RETRY_MAX_DELAY_MS: '800',
    UPVEST_RETRY_MAX_TIME_MS: '120000',
    UPVEST_REQUEST_TIMEOUT_MS: '4000',
    UPVEST_CONNECT_TIMEOUT_MS: '2000',
    // Tokens live 30 s: refreshed ahead of time, mid-run.
    UPVEST_TOKEN_REFRESH_MARGIN_SECONDS: '10',
    SYNC_PAGE_SIZE: String(PAGE_SIZE),
    SYNC_CONCURRENCY: '3',
    SYNC_INCREMENTAL_LAG_MS: '1000',
    SYNC_FULL_INTERVAL_MS: '60000',
    // The soak's mirror is smaller than a deferral pays for; it is here to prove the path safe.
    SYNC_DEFER_INDEXES_FROM: '0',
    LOG_LEVEL: 'info',
  };
  const workerEnv: Env = {
    REDIS_URL: redis.url,
    QUEUE_PREFIX: 'soak',
    QUEUE_LOCK_DURATION_MS: '5000',
    QUEUE_STALLED_INTERVAL_MS: '2000',
    QUEUE_SCHEDULE_CHECK_MS: '2000',
    QUEUE_JOB_BACKOFF_MS: '500',
    QUEUE_RATE_LIMIT_PAUSE_MS: '2000',
    // The schedule fires when it is created (at start, and after Redis lost it), then rarely:
    // the soak asks for runs itself.
    SYNC_INTERVAL_MS: '600000',
    SYNC_LOCK_WAIT_MS: '15000',
    SHUTDOWN_TIMEOUT_MS: '15000',
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    STATUS_PAGE_ENABLED: 'false',
  };
  const log = createWriteStream(values.log);
  const procs = new Processes(() => baseEnv, log);
  processes = procs;
  const reads = new Reads(simulator, (scopes) => procs.procOfScopes(scopes), PAGE_SIZE);
  const checker = new Checker({
    databaseUrl,
    upstream,
    reads,
    processes: procs,
    figures,
    sabotageAfter: values.sabotage ? 3 : undefined,
    webhooks: values.webhooks,
  });
  procs.onExit((proc) => checker.exited(proc));
  // Before faults and the worker: a first sync, then the receiver, subscribed (webhooks.ts).
  const webhooks = values.webhooks
    ? await WebhookSoak.start({ processes: procs, simulator, figures, upstream, reads, databaseUrl, seed, log })
    : undefined;
  setUpstreamFaults(simulator, prng);
  const spawnWorker = (): Proc => {
    figures.count(figures.launched, 'worker');
    return procs.spawn('worker', ['worker'], workerEnv);
  };
  let worker = spawnWorker();
  const stage: EpisodeStage = {
    cluster,
    redis,
    simulator,
    processes: procs,
    figures,
    prng,
    databaseUrl,
    changes: new Changes(simulator.dataset, prng),
    checker,
    workerEnv,
    worker: () => (worker.alive() ? worker : (worker = spawnWorker())),
    respawnWorker: () => (worker = spawnWorker()),
    log,
  };

  const deadline = Date.now() + minutes * 60_000;
  for (let n = 0; Date.now() < deadline; n++) await episode(stage, n);

  // The end: Upvest behaves and stands still, the worker stops, and `sync` runs until one run
  // has walked a still list consistently; then everything must be exact.
  simulator.faults.setRandom(null);
  stage.changes.stop();
  // Every delivery answered and every event applied before the final runs: so that the last
  // full run sees the mirror as the webhooks left it, and settles what they cannot (deletions).
  await webhooks?.drain();
  worker.kill('SIGTERM', 'end of the soak');
  await Promise.race([worker.closed, new Promise((resolve) => setTimeout(resolve, 20_000))]);
  worker.kill('SIGKILL', 'end of the soak');
  await worker.closed;
  await finalRuns(stage);
  await checker.idle();

  const db = await openClient(databaseUrl, 'account-sync soak final');
  try {
    const final = checkFinal(await loadMirror(db), upstream, Date.now());
    figures.rowsChecked += final.rows;
    figures.mismatch('after the last run', final.mismatches);
    const model = webhooks ? await webhooks.finish(db) : seenBySuccessfulRuns(reads.mustSee);
    const history = await checkHistory(db, upstream, model);
    webhooks?.noteModel();
    figures.historyRows += history.changes;
    figures.mustSee += history.mustSee;
    figures.mismatch('status history', history.mismatches);
    const runs = await loadRuns(db);
    const accounting = accountRuns(procs, runs);
    figures.mismatch('runs', accounting.mismatches);
    figures.mismatch('indexes', await indexMismatches(db));
    figures.mismatch('foreign keys', await foreignKeyMismatches(db));
    figures.warnings.push(...accounting.warnings);
    for (const proc of procs.all.filter((p) => p.exit?.signal && !p.killedFor)) {
      figures.notes.push(`process ${proc.id} (${proc.kind}) died of ${proc.exit!.signal}, which the soak did not send`);
    }
    if (accounting.closedUnlogged > 0) {
      figures.notes.push(`${accounting.closedUnlogged} run(s) were closed by their own process, killed before it could log the end`);
    }
    if (accounting.unloggedExplainedByKills > 0) {
      figures.notes.push(`${accounting.unloggedExplainedByKills} run rows or resumptions were created by processes killed before they could log them`);
    }
    const byOutcome: Record<string, number> = {};
    for (const run of runs.values()) figures.count(byOutcome, run.errorCode ? `${run.status} (${run.errorCode})` : run.status);
    process.stdout.write(
      `${report(figures, {
        runsByOutcome: byOutcome,
        healRequests: [...runs.values()].reduce((sum, r) => sum + r.healRequests, 0),
        healedRuns: [...runs.values()].filter((r) => r.healRequests > 0).length,
        resumedRuns: [...runs.values()].filter((r) => r.resumes > 0).length,
        resumptions: [...runs.values()].reduce((sum, r) => sum + r.resumes, 0),
        stats: simulator.stats,
        upstream,
        accountsAtEnd: simulator.dataset.count,
        seed,
        minutes,
        webhooks: values.webhooks,
      })}\n  log of every process: ${values.log}\n`,
    );
  } finally {
    await db.end();
  }
  process.exitCode = figures.mismatches.length === 0 ? 0 : 1;
} finally {
  await processes?.killAll();
  await redis.stop();
  await cluster.stop();
  await simulator.close();
  rmSync(keyDir, { recursive: true, force: true });
}
