// `account-sync worker`: the daemon. Composition root: settings are read once here, every
// dependency is built here and handed down, and shutdown undoes start-up in reverse order.
import { hostname } from 'node:os';
import { runOptionsOf, type CommandConfig } from '../config/index.js';
import { assertMigrated, isSchemaMismatch } from '../db/migration-check.js';
import { createPrisma, type PrismaClient } from '../db/prisma.js';
import { AccountSyncError, errorMessageOf } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { loadCredentials, type LoadedCredentials } from '../health/credentials.js';
import { createMetrics, registerBuildInfo, type SyncMetrics } from '../health/metrics.js';
import { createReadiness, type Readiness } from '../health/readiness.js';
import { startHealthServer, type HealthServer } from '../health/server.js';
import type { Logger } from '../logger.js';
import { currentRelease, releaseTag } from '../release.js';
import type { SecretRegistry } from '../secrets.js';
import { runGuarded } from '../sync/guarded.js';
import { lastSuccessfulRun, unfinishedRuns } from '../runs/sql/runs.js';
import { FOLLOW_UP_DEDUPLICATION_ID, JOB_NAME, syncJobOptions } from '../queue/names.js';
import { createSyncProcessor } from '../queue/processor.js';
import { createDaemonRedis, describeRedisUrl, type Redis } from '../queue/redis.js';
import { requestStartupRun } from '../queue/requests.js';
import { describeSchedule, keepSchedule, scheduleSpec, type ScheduleKeeper, type SyncQueue } from '../queue/scheduler.js';
import { createSyncQueue, createSyncWorker, type SyncWorker } from '../queue/worker.js';
import { createStatusRoutes } from '../status-page/index.js';
import { createUpvestClientFromConfig, type UpvestClient } from '../upvest/index.js';
import { parseCommandLine } from './arguments.js';
import { setUp, type Command } from './command.js';
import { onStopSignals } from './signals.js';

const COMMAND_LINE = {
  name: 'worker',
  usage: [
    'usage: account-sync worker',
    '',
    'The daemon: scheduled syncs through the Redis queue (REDIS_URL, QUEUE_PREFIX), one at a time',
    'across replicas, with /healthz, /readyz, /metrics and the status page on HEALTH_PORT.',
    'SIGTERM or SIGINT stops it in order; a second one exits at once.',
  ].join('\n'),
  options: {},
};

type WorkerConfig = CommandConfig<'worker'>;

/** Readiness is also checked on this timer, so outages are logged when nobody probes. */
const READINESS_EVERY_MS = 5_000;
const READINESS_TIMEOUT_MS = 3_000;

export const workerCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { config, secrets, logger } = setUp('worker', context);
    const daemon = await startDaemon(config, logger, secrets);

    const unwire = onStopSignals({
      onStop: (signal) => {
        logger.info(`${signal}: stopping (the page in flight commits, the run is left interrupted and resumes later)`);
        const forced = setTimeout(() => {
          logger.error(`shutdown took longer than SHUTDOWN_TIMEOUT_MS (${config.shutdown.timeoutMs} ms): exiting anyway`);
          process.exit(EXIT.failed);
        }, config.shutdown.timeoutMs);
        forced.unref();
        void daemon.stop(`shutting down on ${signal}`);
      },
      onAgain: (signal) => logger.warn(`${signal} again: exiting at once`),
    });
    try {
      await daemon.stopped;
      logger.info('worker stopped');
      return EXIT.ok;
    } finally {
      unwire();
    }
  },
};

interface Daemon {
  /** Settles once `stop` has closed everything. */
  stopped: Promise<void>;
  stop(reason: string): Promise<void>;
}

async function startDaemon(config: WorkerConfig, logger: Logger, secrets: SecretRegistry): Promise<Daemon> {
  const instance = `${hostname()}:${process.pid}`;
  const jobOptions = syncJobOptions(config.queue);
  const spec = scheduleSpec(config.schedule);
  // Settings read from files come first too: a missing credentials file stops the start.
  const { credentials, secrets: healthSecrets } = loadCredentials(config.healthAuth);
  for (const secret of healthSecrets) secrets.addFixed(secret);

  // First what can fail on bad settings (the signing key), before any connection is opened.
  const client = createUpvestClientFromConfig(config.upvest, {
    logger,
    secrets,
    onRetry: (error) => metrics.upstreamRetry(error),
    onResponse: ({ path, status }) => metrics.upstreamResponse(path, status),
  });
  const prisma = createPrisma(config.database.url, { poolSize: config.sync.concurrency + 3, applicationName: `account-sync worker ${instance}` });
  const redis = createDaemonRedis(config.redis.url, `account-sync:worker:${instance}`);
  const queue = createSyncQueue(redis, config.queue);
  queue.on('error', (error) => logger.debug({ err: error }, `queue: ${error.message}`));

  const metrics = daemonMetrics(prisma, redis, queue);
  const readiness = daemonReadiness(prisma, redis, metrics, logger);
  const health = await startHealth(config, { prisma, redis, queue, metrics, readiness, credentials, logger });

  const shutdown = new AbortController();
  const processor = daemonProcessor(config, { prisma, client, queue, metrics, logger, secrets, instance, jobOptions, shutdown: shutdown.signal });
  const worker = createSyncWorker({ redis, config: config.queue, processor, logger, name: instance });

  logger.info(
    {
      instance,
      redis: describeRedisUrl(config.redis.url),
      queuePrefix: config.queue.prefix,
      schedule: describeSchedule(spec),
      healthPort: health.port,
      release: releaseTag(currentRelease()),
    },
    `worker starting: sync ${describeSchedule(spec)}, queue "${config.queue.prefix}" at ${describeRedisUrl(config.redis.url)}`,
  );
  const keeper = keepSchedule({ queue, redis, spec, jobOptions, checkEveryMs: config.queue.scheduleCheckMs, logger });
  // In the background: with Redis or PostgreSQL down the daemon still starts, and waits.
  void keeper.started.then(() =>
    requestStartupRun({
      runState: async () => ({
        lastSuccess: (await lastSuccessfulRun(prisma))?.finishedAt ?? null,
        unfinished: (await unfinishedRuns(prisma)).length,
      }),
      queue,
      intervalMs: config.schedule.intervalMs,
      jobOptions,
      logger,
    }),
  );
  const running = worker.run().catch((error: unknown) => logger.error(`queue worker stopped: ${errorMessageOf(error)}`));
  logger.info({ instance }, 'worker started');
  return stoppable({ keeper, shutdown, worker, running, queue, redis, prisma, readiness, health, logger });
}

function daemonMetrics(prisma: PrismaClient, redis: Redis, queue: SyncQueue): SyncMetrics {
  const metrics = createMetrics({
    lastSuccess: async () => (await lastSuccessfulRun(prisma))?.finishedAt ?? null,
    queueCounts: async () => {
      if (redis.status !== 'ready') throw new AccountSyncError('REDIS_UNAVAILABLE', `redis connection ${redis.status}`);
      return queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'completed', 'failed');
    },
  });
  registerBuildInfo(metrics.registry, currentRelease());
  return metrics;
}

function daemonReadiness(prisma: PrismaClient, redis: Redis, metrics: SyncMetrics, logger: Logger): Readiness {
  return createReadiness({
    checks: {
      redis: async () => {
        if (redis.status !== 'ready') throw new AccountSyncError('REDIS_UNAVAILABLE', `connection ${redis.status}`);
        await redis.ping();
      },
      database: () => prisma.$queryRaw`SELECT 1`,
      // Runs fail before writing while the schema is not this release's (a newer release
      // migrated it, or nobody has yet): not ready. A database that does not answer is the
      // check above's to report.
      schema: () => assertMigrated(prisma).catch((error: unknown) => {
        if (isSchemaMismatch(error)) throw error;
      }),
    },
    wording: { schema: { down: 'does not match this release', up: 'matches this release again' } },
    timeoutMs: READINESS_TIMEOUT_MS,
    everyMs: READINESS_EVERY_MS,
    logger,
    onResult: (name, up) => metrics.dependency(name, up),
  });
}

/** The health server with the status page; if it cannot start, what was opened so far is closed. */
async function startHealth(
  config: WorkerConfig,
  parts: { prisma: PrismaClient; redis: Redis; queue: SyncQueue; metrics: SyncMetrics; readiness: Readiness; credentials: LoadedCredentials['credentials']; logger: Logger },
): Promise<HealthServer> {
  const { prisma, redis, queue, metrics, readiness, credentials, logger } = parts;
  try {
    const pages = await createStatusRoutes({ prisma, queue, config: config.statusPage, intervalMs: config.schedule.intervalMs, logger });
    const health = await startHealthServer({
      host: config.health.host,
      port: config.health.port,
      registry: metrics.registry,
      readiness,
      logger,
      access: { credentials, loopbackOnly: config.health.loopbackOnly },
      routes: pages.routes,
    });
    pages.warm();
    return health;
  } catch (error) {
    // E.g. the port is taken: nothing has started yet, so nothing must keep the process alive.
    readiness.stop();
    redis.disconnect();
    await prisma.$disconnect();
    throw error;
  }
}

/** What the queue worker does with a job: a guarded scheduled run, its outcome counted. */
function daemonProcessor(
  config: WorkerConfig,
  parts: {
    prisma: PrismaClient;
    client: UpvestClient;
    queue: SyncQueue;
    metrics: SyncMetrics;
    logger: Logger;
    secrets: SecretRegistry;
    instance: string;
    jobOptions: ReturnType<typeof syncJobOptions>;
    shutdown: AbortSignal;
  },
) {
  const { prisma, client, queue, metrics, logger, secrets, instance, jobOptions } = parts;
  return createSyncProcessor({
    run: (signal) => {
      metrics.runStarted();
      return runGuarded(
        {
          prisma,
          client,
          logger,
          databaseUrl: config.database.url,
          applicationName: `account-sync worker ${instance}`,
          redact: secrets.redact,
        },
        { ...runOptionsOf(config), mode: 'scheduled', lockWaitMs: config.sync.lockWaitMs, signal },
      );
    },
    rateLimit: (ms) => queue.rateLimit(ms),
    shutdown: parts.shutdown,
    rateLimitPauseMs: config.queue.rateLimitPauseMs,
    redact: secrets.redact,
    logger,
    onOutcome: (outcome) => metrics.observeOutcome(outcome),
    onRateLimitPause: () => metrics.rateLimitPause(),
    requestFollowUp: async () => {
      await queue.add(JOB_NAME, { reason: 'follow-up' }, { ...jobOptions, deduplication: { id: FOLLOW_UP_DEDUPLICATION_ID } });
    },
  });
}

/** The daemon's stop: undoes start-up in reverse order, once however often it is asked. */
function stoppable(parts: {
  keeper: ScheduleKeeper;
  shutdown: AbortController;
  worker: SyncWorker;
  running: Promise<unknown>;
  queue: SyncQueue;
  redis: Redis;
  prisma: PrismaClient;
  readiness: Readiness;
  health: HealthServer;
  logger: Logger;
}): Daemon {
  const { keeper, shutdown, worker, running, queue, redis, prisma, readiness, health, logger } = parts;
  let stopped!: () => void;
  const stoppedPromise = new Promise<void>((resolve) => (stopped = resolve));
  let stopping: Promise<void> | null = null;
  const step = async (what: string, work: () => Promise<unknown>) => {
    try {
      await work();
    } catch (error) {
      logger.warn(`shutdown: ${what}: ${errorMessageOf(error)}`);
    }
  };
  return {
    stopped: stoppedPromise,
    stop(reason) {
      stopping ??= (async () => {
        keeper.stop();
        // Aborting the run lets the page in flight commit; the processor then puts the job back.
        shutdown.abort(new Error(reason));
        await step('closing the worker', () => worker.close());
        await step('worker loop', () => running);
        await step('closing the queue', () => queue.close());
        // QUIT would wait for a connection that is down; then there is nothing to say goodbye to.
        await step('closing Redis', async () => (redis.status === 'ready' ? redis.quit() : redis.disconnect()));
        await step('closing PostgreSQL', () => prisma.$disconnect());
        readiness.stop();
        await step('closing the health server', () => health.close());
        stopped();
      })();
      return stopping;
    },
  };
}
