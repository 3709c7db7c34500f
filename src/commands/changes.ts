// `account-sync changes [--since <id>] [--json] [--follow] [--limit N]`: the status change feed,
// from a cursor the consumer keeps (the id of the last change it handled). Composition root.
import { openClient } from '../db/pg-client.js';
import { createPrisma } from '../db/prisma.js';
import { EXIT } from '../exit-codes.js';
import { changeJsonLine, changeTextLine, drainChanges, type FeedChange } from '../analytics/feed.js';
import { followChanges } from '../analytics/follow.js';
import { createLineWriter, isBrokenPipe } from '../analytics/line-writer.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';
import { abortOnStopSignals } from './signals.js';

export const CHANGES_USAGE = 'usage: account-sync changes [--since <id>] [--json] [--follow] [--limit N]';

const COMMAND_LINE = {
  name: 'changes',
  usage: CHANGES_USAGE,
  options: {
    since: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    follow: { type: 'boolean', short: 'f', default: false },
    limit: { type: 'string' },
  },
} as const;

export const changesCommand: Command = {
  async run(args, context) {
    const stop = abortOnStopSignals();
    try {
      return await runChanges(args, context, { signal: stop.signal });
    } finally {
      stop.unwire();
    }
  },
};

export interface ChangesOptions {
  since: bigint;
  json: boolean;
  follow: boolean;
  limit: number | undefined;
}

/** The options, or the exit code when there is nothing more to do (help, or a usage error). */
function parseChangesArgs(args: string[], context: CommandContext): ChangesOptions | number {
  const parsed = parseCommandLine(COMMAND_LINE, args, context);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (!/^\d{1,19}$/.test(values.since) || BigInt(values.since) > 9_223_372_036_854_775_807n) {
    return usageError(COMMAND_LINE, context, `--since must be a change id (a whole number >= 0), got "${values.since}"`);
  }
  let limit: number | undefined;
  if (values.limit !== undefined) {
    if (!/^\d{1,9}$/.test(values.limit) || Number(values.limit) < 1) {
      return usageError(COMMAND_LINE, context, `--limit must be a whole number >= 1, got "${values.limit}"`);
    }
    limit = Number(values.limit);
  }
  return { since: BigInt(values.since), json: values.json, follow: values.follow, limit };
}

/**
 * The command with its stop signal passed in (the CLI wires SIGINT/SIGTERM to it). Resolves to
 * the exit code: 0 when done or stopped, 2 for a usage error.
 */
export async function runChanges(
  args: string[],
  context: CommandContext,
  deps: { signal: AbortSignal; safetyIntervalMs?: number },
): Promise<number> {
  const options = parseChangesArgs(args, context);
  if (typeof options === 'number') return options;
  const { config, logger } = setUp('changes', context);
  const prisma = createPrisma(config.database.url, { poolSize: 2, applicationName: 'account-sync changes' });
  // A reader that goes away (EPIPE) stops us as Ctrl-C would.
  const stopped = new AbortController();
  const signal = AbortSignal.any([deps.signal, stopped.signal]);
  const out = createLineWriter(context.stdout, signal);
  const emit = async (change: FeedChange) => {
    try {
      await out.write(options.json ? changeJsonLine(change) : changeTextLine(change));
    } catch (error) {
      if (!isBrokenPipe(error)) throw error;
      stopped.abort();
    }
  };
  try {
    if (!options.follow) {
      const result = await drainChanges(prisma, { since: options.since, limit: options.limit, signal, emit });
      if (!options.json && !stopped.signal.aborted) {
        context.stderr.write(`-- ${result.emitted} change(s); continue with --since ${result.cursor}\n`);
      }
      return EXIT.ok;
    }
    const result = await followChanges(
      {
        prisma,
        connect: () => openClient(config.database.url, 'account-sync changes --follow'),
        logger,
        emit,
      },
      { since: options.since, limit: options.limit, signal, safetyIntervalMs: deps.safetyIntervalMs },
    );
    if (!options.json && !stopped.signal.aborted) {
      context.stderr.write(`-- stopped after ${result.emitted} change(s); continue with --since ${result.cursor}\n`);
    }
    return EXIT.ok;
  } finally {
    await prisma.$disconnect();
  }
}
