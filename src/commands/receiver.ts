// `account-sync receiver`: receives Upvest's webhook deliveries on WEBHOOK_RECEIVER_PORT and
// WEBHOOK_RECEIVER_PATH, verifies them, stores their events (webhook_events) and applies them
// to the mirror, until stopped; /healthz, /readyz and /metrics on WEBHOOK_RECEIVER_HEALTH_PORT.
// Stateless: run as many as you like behind a load balancer. Composition root: shutdown undoes
// start-up in reverse order.
import type { CommandConfig } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { errorMessageOf } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { loadCredentials } from '../health/credentials.js';
import { registerBuildInfo } from '../health/metrics.js';
import { createReadiness } from '../health/readiness.js';
import { startHealthServer } from '../health/server.js';
import { currentRelease, releaseTag } from '../release.js';
import { startApplier, type Applier, type ApplierOptions } from '../webhooks/applier.js';
import { pendingEventCount } from '../webhooks/event-store.js';
import { ourSubscriptionsFromConfig, startReceiverFromConfig } from '../webhooks/index.js';
import { createReceiverMetrics } from '../webhooks/metrics.js';
import { parseCommandLine } from './arguments.js';
import { setUp, type Command } from './command.js';
import { abortOnStopSignals, untilAborted } from './signals.js';

const COMMAND_LINE = {
  name: 'receiver',
  usage: [
    'usage: account-sync receiver',
    '',
    'Receives Upvest webhook deliveries on WEBHOOK_RECEIVER_HOST:WEBHOOK_RECEIVER_PORT, path',
    'WEBHOOK_RECEIVER_PATH; verifies their signatures, stores their events and applies them to the',
    'mirror (WEBHOOK_APPLY). /healthz, /readyz and /metrics on WEBHOOK_RECEIVER_HEALTH_HOST:WEBHOOK_RECEIVER_HEALTH_PORT. Runs until',
    'SIGINT or SIGTERM; requests under way are finished first. Settings: see docs/configuration.md; the receiver: docs/webhooks.md.',
  ].join('\n'),
  options: {},
};

/** Readiness is also checked on this timer, so outages are logged when nobody probes. */
const READINESS_EVERY_MS = 5_000;
const READINESS_TIMEOUT_MS = 3_000;

export const receiverCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { config, secrets, logger } = setUp('receiver', context);
    const { credentials, secrets: healthSecrets } = loadCredentials(config.healthAuth);
    for (const secret of healthSecrets) secrets.addFixed(secret);
    const prisma = createPrisma(config.database.url, { applicationName: 'account-sync receiver' });
    const stop = abortOnStopSignals();
    const metrics = createReceiverMetrics({ pendingEvents: () => pendingEventCount(prisma) });
    registerBuildInfo(metrics.registry, currentRelease());
    const readiness = createReadiness({
      checks: { database: () => prisma.$queryRaw`SELECT 1` },
      timeoutMs: READINESS_TIMEOUT_MS,
      everyMs: READINESS_EVERY_MS,
      logger,
      onResult: (name, up) => metrics.dependency(name, up),
    });
    let applier: Applier | null = null;
    try {
      const subscriptions = ourSubscriptionsFromConfig(config, { logger, secrets });
      // Known before the first event if Upvest answers now; otherwise the first event asks again.
      void subscriptions
        .refresh()
        .catch((error: unknown) => logger.warn(`this tenant's webhook subscriptions not read yet: ${errorMessageOf(error)}`));
      applier = config.webhooks.apply ? await startApplierFromConfig(config, { subscriptions, prisma, logger, redact: secrets.redact, metrics }) : null;
      const { receiver, keys } = await startReceiverFromConfig(config, {
        prisma,
        logger,
        secrets,
        onOutcome: (outcome) => {
          metrics.delivery(outcome);
          // Applied at once: the events are committed when the answer goes out.
          if ((outcome.batch?.stored ?? 0) > 0) applier?.kick();
        },
      });
      const health = await startHealthServer({
        host: config.webhooks.healthHost,
        port: config.webhooks.healthPort,
        registry: metrics.registry,
        readiness,
        logger,
        access: { credentials, loopbackOnly: config.webhooks.healthLoopbackOnly },
      });
      // Knowing the keys before the first delivery; if Upvest is unreachable now, the first
      // delivery tries again (and is answered 503 meanwhile, which Upvest retries).
      await keys
        .refresh()
        .catch((error: unknown) => logger.warn({ err: error }, `webhook verification keys not loaded yet: ${errorMessageOf(error)}`));
      const stopRefreshing = keys.refreshEvery(config.webhooks.keysRefreshMs);
      logger.info(
        { receiverPort: receiver.port, healthPort: health.port, apply: config.webhooks.apply, release: releaseTag(currentRelease()) },
        'webhook receiver started',
      );
      await untilAborted(stop.signal);
      logger.info('stopping the webhook receiver');
      stopRefreshing();
      await health.close();
      await receiver.close();
      await applier?.close();
      logger.info('webhook receiver stopped');
      return EXIT.ok;
    } finally {
      stop.unwire();
      await applier?.close();
      readiness.stop();
      await prisma.$disconnect();
    }
  },
};

/** The applier of stored events, with what the settings say. */
function startApplierFromConfig(
  config: CommandConfig<'receiver'>,
  deps: Pick<ApplierOptions, 'subscriptions' | 'prisma' | 'logger' | 'redact'> & { metrics: ReturnType<typeof createReceiverMetrics> },
): Promise<Applier> {
  const { metrics, logger } = deps;
  return startApplier({
    subscriptions: deps.subscriptions,
    prisma: deps.prisma,
    databaseUrl: config.database.url,
    logger,
    batchSize: config.webhooks.applyBatchSize,
    sweepMs: config.webhooks.applySweepMs,
    // Held to the same bounds as a sync: an event past them is rejected as a page's record is kept aside.
    extraLimits: config.sync.extraLimits,
    now: () => new Date(),
    redact: deps.redact,
    onApplied: (result) => {
      metrics.applied(result);
      logger.debug({ claimed: result.claimed, notOurs: result.notOurs, waiting: result.waiting, ...result.byOutcome }, 'webhook events applied');
    },
  });
}
