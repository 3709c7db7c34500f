// `account-sync changes [--since <id>] [--json] [--follow] [--limit N] [--fields]`: the status
// change feed (or, with --fields, the feed of every field change), from a cursor the consumer
// keeps (the id of the last change it handled). Composition root.
import { openClient } from '../db/pg-client.js';
import { createPrisma } from '../db/prisma.js';
import { EXIT } from '../exit-codes.js';
import {
  changeJsonLine,
  changeTextLine,
  drainChanges,
  fieldChangeJsonLine,
  fieldChangeTextLine,
  readFieldChanges,
  type FeedChange,
  type FieldChange,
} from '../analytics/feed.js';
import { FIELD_FEED_CHANNEL } from '../db/feed.js';
import { followChanges } from '../analytics/follow.js';
import { createLineWriter, isBrokenPipe } from '../analytics/line-writer.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';
import { abortOnStopSignals } from './signals.js';

// --fields: the feed of every change of every mirrored field (account_changes: name, type,
// account group, owners, extra, status, deletion, ...) instead of the status changes; its ids
// are its own cursor.
export const CHANGES_USAGE = 'usage: account-sync changes [--since <id>] [--json] [--follow] [--limit N] [--fields]';

const COMMAND_LINE = {
  name: 'changes',
  usage: CHANGES_USAGE,
  options: {
    since: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    follow: { type: 'boolean', short: 'f', default: false },
    limit: { type: 'string' },
    fields: { type: 'boolean', default: false },
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
  /** The field feed (account_changes) instead of the status changes. */
  fields: boolean;
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
  return { since: BigInt(values.since), json: values.json, follow: values.follow, limit, fields: values.fields };
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
  const lineOf = (change: FeedChange | FieldChange) =>
    options.fields
      ? options.json ? fieldChangeJsonLine(change as FieldChange) : fieldChangeTextLine(change as FieldChange)
      : options.json ? changeJsonLine(change as FeedChange) : changeTextLine(change as FeedChange);
  const read = options.fields ? readFieldChanges : undefined;
  const emit = async (change: FeedChange | FieldChange) => {
    try {
      await out.write(lineOf(change));
    } catch (error) {
      if (!isBrokenPipe(error)) throw error;
      stopped.abort();
    }
  };
  try {
    if (!options.follow) {
      const result = await drainChanges<FeedChange | FieldChange>(prisma, { since: options.since, limit: options.limit, signal, emit, read });
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
        feed: read && { read, channel: FIELD_FEED_CHANNEL },
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
