// `account-sync receiver`: receives Upvest's webhook deliveries on WEBHOOK_RECEIVER_PORT and
// WEBHOOK_RECEIVER_PATH, verifies them and stores their events (webhook_events) until stopped.
// Stateless: run as many as you like behind a load balancer. Composition root.
import { parseArgs } from 'node:util';
import { loadReceiverCommandConfig } from '../config.js';
import { createPrisma } from '../db/prisma.js';
import { errorMessageOf } from '../errors.js';
import { createLogger } from '../logger.js';
import { startReceiverFromConfig } from '../webhooks/index.js';
import type { Command, CommandContext } from './command.js';

const USAGE = [
  'usage: account-sync receiver',
  '',
  'Receives Upvest webhook deliveries on WEBHOOK_RECEIVER_HOST:WEBHOOK_RECEIVER_PORT, path',
  'WEBHOOK_RECEIVER_PATH; verifies their signatures and stores their events. Runs until SIGINT or',
  'SIGTERM; requests under way are finished first. Settings: see README.md, "Webhooks".',
].join('\n');

/** Serves until `stop` aborts; the command wires `stop` to SIGINT and SIGTERM. */
export async function runReceiver(args: string[], context: CommandContext, stop: AbortSignal): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (error) {
    context.stderr.write(`account-sync receiver: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    context.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadReceiverCommandConfig(context.env);
  const logger = createLogger(config.log, context.stderr, {
    secrets: [config.upvest.clientSecret, config.upvest.signingKeyPassphrase],
  });
  const prisma = createPrisma(config.database.url, { applicationName: 'account-sync receiver' });
  try {
    const { receiver, keys } = await startReceiverFromConfig(config, { prisma, logger });
    // Knowing the keys before the first delivery; if Upvest is unreachable now, the first
    // delivery tries again (and is answered 503 meanwhile, which Upvest retries).
    await keys.refresh().catch((error: unknown) => logger.warn({ err: error }, `webhook verification keys not loaded yet: ${errorMessageOf(error)}`));
    await new Promise<void>((resolve) => {
      if (stop.aborted) resolve();
      else stop.addEventListener('abort', () => resolve(), { once: true });
    });
    logger.info('stopping the webhook receiver');
    await receiver.close();
    logger.info('webhook receiver stopped');
    return 0;
  } finally {
    await prisma.$disconnect();
  }
}

export const receiverCommand: Command = {
  async run(args, context) {
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await runReceiver(args, context, controller.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
