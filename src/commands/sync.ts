// `account-sync sync`: one run in this process, no Redis needed. Composition root.
// It takes the same run lock as the daemon: while another sync runs (a worker's, or another
// `sync`), it stops at once with exit code 75 and says who holds the lock, or with --wait
// waits for it. Like the daemon, it first resumes a run that a dead process left behind.
import { hostname } from 'node:os';
import { isInteractive, runOptionsOf } from '../config/index.js';
import { createPrisma } from '../db/prisma.js';
import { describeHolder } from '../runs/lock.js';
import { errorCodeOf, oneLineMessage } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { runGuarded } from '../sync/guarded.js';
import { createProgressDisplay } from '../sync/progress.js';
import { summaryJson, summaryLine } from '../sync/summary.js';
import { createUpvestClientFromConfig } from '../upvest/index.js';
import { dryRun } from '../sync/dry-run.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';
import { abortOnStopSignals } from './signals.js';

const COMMAND_LINE = {
  name: 'sync',
  usage: [
    'usage: account-sync sync [--full | --incremental] [--json] [--wait]',
    '       account-sync sync --dry-run [--json]',
    '',
    '  --full         walk every account, and mark those Upvest no longer lists (the default)',
    '  --incremental  walk only what changed since the last successful run',
    '  --json         print one JSON object instead of a line',
    `  --wait         wait for a sync that holds the run lock instead of exiting ${EXIT.locked}`,
    '  --dry-run      fetch and validate every page, write nothing (no database needed)',
  ].join('\n'),
  options: {
    json: { type: 'boolean', default: false },
    full: { type: 'boolean', default: false },
    incremental: { type: 'boolean', default: false },
    wait: { type: 'boolean', default: false },
    'dry-run': { type: 'boolean', default: false },
  },
} as const;

export const syncCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { values } = parsed;
    if (values['dry-run']) return dryRunCommand(values.json, context);
    if (values.full && values.incremental) return usageError(COMMAND_LINE, context, 'choose --full or --incremental, not both');
    const { config, secrets, logger } = setUp('sync', context);
    const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
    const prisma = createPrisma(config.database.url, { poolSize: config.sync.concurrency + 2 });
    const progress = createProgressDisplay(context.stderr, !values.json && isInteractive(context.stderr, context.env));
    const stop = abortOnStopSignals(new Error('interrupted by signal'));
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
          ...runOptionsOf(config),
          // By hand, a full run unless asked otherwise: it is the one that also sees deletions.
          mode: values.incremental ? 'incremental' : 'full',
          lockWaitMs: values.wait ? Number.POSITIVE_INFINITY : 0,
          signal: stop.signal,
        },
      );
      if (outcome.kind === 'locked') {
        context.stderr.write(
          `account-sync sync: another sync is running, held by ${describeHolder(outcome.holder)}; ` +
            'not starting a second one (use --wait to wait for it to finish)\n',
        );
        return EXIT.locked;
      }
      const { summary } = outcome;
      progress.done();
      context.stdout.write(`${values.json ? summaryJson(summary) : summaryLine(summary)}\n`);
      return summary.status === 'succeeded' ? EXIT.ok : summary.status === 'incomplete' ? EXIT.incomplete : EXIT.failed;
    } finally {
      stop.unwire();
      await prisma.$disconnect();
    }
  },
};

/** `sync --dry-run`: fetch and validate every page, write nothing, no database needed. */
async function dryRunCommand(json: boolean, context: CommandContext): Promise<number> {
  const { config, secrets, logger } = setUp('sync --dry-run', context);
  const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
  let summary;
  try {
    summary = await dryRun(client, {
      pageSize: config.sync.pageSize,
      pageOverlap: config.sync.pageOverlap,
      concurrency: config.sync.concurrency,
      maxPages: config.sync.maxPages,
    });
  } catch (error) {
    context.stderr.write(`account-sync sync --dry-run: ${errorCodeOf(error)}: ${secrets.redact(oneLineMessage(error))}\n`);
    return EXIT.failed;
  }
  context.stdout.write(
    json
      ? `${JSON.stringify({ dry_run: true, ...summary })}\n`
      : `dry run in ${(summary.durationMs / 1000).toFixed(1)}s: ${summary.pages} pages, ${summary.accountsSeen} accounts seen ` +
          `(${summary.accounts} valid), ${summary.rejected} rejected (${summary.unidentified} without a usable id), ${summary.retries} retries\n`,
  );
  return EXIT.ok;
}
