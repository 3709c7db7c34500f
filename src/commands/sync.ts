// `account-sync sync`: one run in this process, no Redis needed. Composition root.
import { parseArgs } from 'node:util';
import { isInteractive, loadSyncCommandConfig } from '../config.js';
import { createPrisma } from '../db/prisma.js';
import { createLogger } from '../logger.js';
import { createProgressDisplay } from '../sync/progress.js';
import { runSync } from '../sync/run.js';
import { summaryJson, summaryLine } from '../sync/summary.js';
import { createUpvestClientFromConfig } from '../upvest/index.js';
import type { Command } from './command.js';

export const syncCommand: Command = {
  async run(args, context) {
    const { values } = parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
        incremental: { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values.full && values.incremental) {
      context.stderr.write('account-sync sync: choose --full or --incremental, not both\n');
      return 2;
    }
    const config = loadSyncCommandConfig(context.env);
    const logger = createLogger(config.log, context.stderr);
    const client = createUpvestClientFromConfig(config.upvest, { logger });
    const prisma = createPrisma(config.database.url, { poolSize: config.sync.concurrency + 2 });
    const progress = createProgressDisplay(context.stderr, !values.json && isInteractive());
    const abort = new AbortController();
    const stop = () => abort.abort(new Error('interrupted by signal'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const summary = await runSync(
        { prisma, client, logger, onProgress: (p) => progress.update(p), signal: abort.signal },
        {
          pageSize: config.sync.pageSize,
          concurrency: config.sync.concurrency,
          // By hand, a full run unless asked otherwise: it is the one that also sees deletions.
          mode: values.incremental ? 'incremental' : 'full',
          incrementalLagMs: config.sync.incrementalLagMs,
        },
      );
      progress.done();
      context.stdout.write(`${values.json ? summaryJson(summary) : summaryLine(summary)}\n`);
      return summary.status === 'succeeded' ? 0 : 1;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await prisma.$disconnect();
    }
  },
};
