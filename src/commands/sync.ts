// `account-sync sync`: one run in this process, no Redis needed. Composition root.
// It takes the same run lock as the daemon: while another sync runs (a worker's, or another
// `sync`), it stops at once with exit code 75 and says who holds the lock, or with --wait
// waits for it. Like the daemon, it first resumes a run that a dead process left behind.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { isInteractive, loadSyncCommandConfig, loadUpvestCommandConfig } from '../config.js';
import { createPrisma } from '../db/prisma.js';
import { describeHolder } from '../runs/lock.js';
import { errorCodeOf, oneLineMessage } from '../errors.js';
import { createLogger } from '../logger.js';
import { secretsOfSettings } from '../secrets.js';
import { runGuarded } from '../runs/guarded.js';
import { createProgressDisplay } from '../sync/progress.js';
import { summaryJson, summaryLine } from '../sync/summary.js';
import { createUpvestClientFromConfig } from '../upvest/index.js';
import { dryRun } from '../sync/dry-run.js';
import type { Command, CommandContext } from './command.js';

export const syncCommand: Command = {
  async run(args, context) {
    const { values } = parseArgs({
      args,
      options: {
        json: { type: 'boolean', default: false },
        full: { type: 'boolean', default: false },
        incremental: { type: 'boolean', default: false },
        wait: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
      },
      strict: true,
    });
    if (values['dry-run']) return dryRunCommand(values.json, context);
    if (values.full && values.incremental) {
      context.stderr.write('account-sync sync: choose --full or --incremental, not both\n');
      return 2;
    }
    const config = loadSyncCommandConfig(context.env);
    const secrets = secretsOfSettings(config);
    const logger = createLogger(config.log, context.stderr, { secrets });
    const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
    const prisma = createPrisma(config.database.url, { poolSize: config.sync.concurrency + 2 });
    const progress = createProgressDisplay(context.stderr, !values.json && isInteractive());
    const abort = new AbortController();
    const stop = () => abort.abort(new Error('interrupted by signal'));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const outcome = await runGuarded(
        {
          prisma,
          client,
          logger,
          databaseUrl: config.database.url,
          applicationName: `account-sync sync ${hostname()}:${process.pid}`,
          onProgress: (p) => progress.update(p),
          redact: secrets.redact,
        },
        {
          pageSize: config.sync.pageSize,
          concurrency: config.sync.concurrency,
          maxPages: config.sync.maxPages,
          // By hand, a full run unless asked otherwise: it is the one that also sees deletions.
          mode: values.incremental ? 'incremental' : 'full',
          fullIntervalMs: config.sync.fullIntervalMs,
          incrementalLagMs: config.sync.incrementalLagMs,
          skipUnchangedPages: config.sync.skipUnchangedPages,
          lockWaitMs: values.wait ? Number.POSITIVE_INFINITY : 0,
          resumeWithinMs: config.runGuard.resumeWithinMs,
          signal: abort.signal,
        },
      );
      if (outcome.kind === 'locked') {
        context.stderr.write(
          `account-sync sync: another sync is running, held by ${describeHolder(outcome.holder)}; ` +
            'not starting a second one (use --wait to wait for it to finish)\n',
        );
        return 75;
      }
      const { summary } = outcome;
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

/** `sync --dry-run`: fetch and validate every page, write nothing, no database needed. */
async function dryRunCommand(json: boolean, context: CommandContext): Promise<number> {
  const config = loadUpvestCommandConfig(context.env);
  const secrets = secretsOfSettings(config);
  const logger = createLogger(config.log, context.stderr, { secrets });
  const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
  let summary;
  try {
    summary = await dryRun(client, {
      pageSize: config.sync.pageSize,
      concurrency: config.sync.concurrency,
      maxPages: config.sync.maxPages,
    });
  } catch (error) {
    context.stderr.write(`account-sync sync --dry-run: ${errorCodeOf(error)}: ${secrets.redact(oneLineMessage(error))}\n`);
    return 1;
  }
  context.stdout.write(
    json
      ? `${JSON.stringify({ dry_run: true, ...summary })}\n`
      : `dry run in ${(summary.durationMs / 1000).toFixed(1)}s: ${summary.pages} pages, ${summary.accountsSeen} accounts seen ` +
          `(${summary.accounts} valid), ${summary.rejected} rejected (${summary.unidentified} without a usable id), ${summary.retries} retries\n`,
  );
  return 0;
}
