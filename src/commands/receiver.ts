// `account-sync receiver`: receives Upvest's webhook deliveries on WEBHOOK_RECEIVER_PORT and
// WEBHOOK_RECEIVER_PATH, verifies them and stores their events (webhook_events) until stopped.
// Stateless: run as many as you like behind a load balancer. Composition root.
import { createPrisma } from '../db/prisma.js';
import { errorMessageOf } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { startReceiverFromConfig } from '../webhooks/index.js';
import { parseCommandLine } from './arguments.js';
import { setUp, type Command } from './command.js';
import { abortOnStopSignals, untilAborted } from './signals.js';

const COMMAND_LINE = {
  name: 'receiver',
  usage: [
    'usage: account-sync receiver',
    '',
    'Receives Upvest webhook deliveries on WEBHOOK_RECEIVER_HOST:WEBHOOK_RECEIVER_PORT, path',
    'WEBHOOK_RECEIVER_PATH; verifies their signatures and stores their events. Runs until SIGINT or',
    'SIGTERM; requests under way are finished first. Settings: see README.md, "Webhooks".',
  ].join('\n'),
  options: {},
};

export const receiverCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { config, secrets, logger } = setUp('receiver', context);
    const prisma = createPrisma(config.database.url, { applicationName: 'account-sync receiver' });
    const stop = abortOnStopSignals();
    try {
      const { receiver, keys } = await startReceiverFromConfig(config, { prisma, logger, secrets });
      // Knowing the keys before the first delivery; if Upvest is unreachable now, the first
      // delivery tries again (and is answered 503 meanwhile, which Upvest retries).
      await keys
        .refresh()
        .catch((error: unknown) => logger.warn({ err: error }, `webhook verification keys not loaded yet: ${errorMessageOf(error)}`));
      await untilAborted(stop.signal);
      logger.info('stopping the webhook receiver');
      await receiver.close();
      logger.info('webhook receiver stopped');
      return EXIT.ok;
    } finally {
      stop.unwire();
      await prisma.$disconnect();
    }
  },
};
