// `account-sync trigger`: asks the daemon for a run now, through the queue. No second run when
// one is already waiting or running. Composition root.
import { QueueEvents } from 'bullmq';
import { EXIT } from '../exit-codes.js';
import { QUEUE_NAME, syncJobOptions } from '../queue/names.js';
import { connectOnce } from '../queue/redis.js';
import { requestRun } from '../queue/requests.js';
import { createSyncQueue } from '../queue/worker.js';
import { parseCommandLine } from './arguments.js';
import { setUp, type Command } from './command.js';

const COMMAND_LINE = {
  name: 'trigger',
  usage: [
    'usage: account-sync trigger [--wait] [--json]',
    '',
    '  --wait   wait until the run has finished; the exit code is 0 only if it succeeded',
    '  --json   print one JSON object instead of a line',
  ].join('\n'),
  options: { wait: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } },
} as const;

export const triggerCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { values } = parsed;
    const { config, logger } = setUp('trigger', context);
    const redis = await connectOnce(config.redis.url, 'account-sync:trigger');
    const queue = createSyncQueue(redis, config.queue);
    queue.on('error', (error) => logger.debug({ err: error }, error.message));
    let events: QueueEvents | undefined;
    try {
      if (values.wait) {
        // Listening before asking, so that a quick run's end is not missed.
        // A blocking connection of its own; BullMQ requires those to retry for ever.
        events = new QueueEvents(QUEUE_NAME, { connection: redis.duplicate({ maxRetriesPerRequest: null }), prefix: config.queue.prefix });
        await events.waitUntilReady();
      }
      const request = await requestRun(queue, 'trigger', syncJobOptions(config.queue));
      const line = request.added
        ? `sync run queued as job ${request.jobId}`
        : `a sync run is already ${request.state} (job ${request.jobId}); not queuing another`;
      if (!events) {
        context.stdout.write(values.json ? `${JSON.stringify(request)}\n` : `${line}\n`);
        return EXIT.ok;
      }
      context.stderr.write(`${line}; waiting for it to finish\n`);
      const job = await queue.getJob(request.jobId);
      if (!job) throw new Error(`job ${request.jobId} is gone from the queue`);
      try {
        const result = await job.waitUntilFinished(events);
        context.stdout.write(`${values.json ? JSON.stringify({ ...request, result }) : `job ${request.jobId} completed: ${JSON.stringify(result)}`}\n`);
        return 'skipped' in result || result.status !== 'succeeded' ? EXIT.failed : EXIT.ok;
      } catch (error) {
        const reason = (error as Error).message;
        context.stdout.write(`${values.json ? JSON.stringify({ ...request, failedReason: reason }) : `job ${request.jobId} failed: ${reason}`}\n`);
        return EXIT.failed;
      }
    } finally {
      await events?.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
    }
  },
};
