// `account-sync refresh ID...`: fetches the given accounts now (GET /accounts/{id}) and writes
// them through the mirror's writer, source 'lookup' (see src/sync/refresh.ts). For support
// staff who need one account fresh while a customer waits. Composition root.
import { createPrisma } from '../db/prisma.js';
import { EXIT } from '../exit-codes.js';
import { isUuid } from '../upvest/schema.js';
import { createUpvestClientFromConfig } from '../upvest/index.js';
import { refreshAccounts, type RefreshOutcome } from '../sync/refresh.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command } from './command.js';
import { abortOnStopSignals } from './signals.js';

const COMMAND_LINE = {
  name: 'refresh',
  usage: [
    'usage: account-sync refresh <account id>... [--json]',
    '',
    '  Fetches each account now (GET /accounts/{id}) and writes it to the mirror, its changes',
    '  recorded with source "lookup". An account answered 404 is marked deleted only when the',
    '  route was shown to work (another account was found through it).',
    '  One line per account: its id and what became of it (inserted, updated, unchanged,',
    '  deleted, not_found, rejected, failed). Exit 0 when every account was settled, 1 otherwise.',
    '',
    '  --json   one JSON object per account instead',
  ].join('\n'),
  options: { json: { type: 'boolean', default: false } },
  positionals: true,
} as const;

/** Outcomes that settle an account: the mirror says what Upvest says. */
const SETTLED = new Set(['inserted', 'updated', 'unchanged', 'deleted', 'not_found']);

export const refreshCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    if (positionals.length === 0) return usageError(COMMAND_LINE, context, 'name at least one account id');
    const notIds = positionals.filter((id) => !isUuid(id));
    if (notIds.length > 0) return usageError(COMMAND_LINE, context, `not an account id (a UUID): ${notIds.join(', ')}`);
    const ids = [...new Set(positionals.map((id) => id.toLowerCase()))];

    const { config, secrets, logger } = setUp('refresh', context);
    const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
    const prisma = createPrisma(config.database.url, { poolSize: 2, applicationName: 'account-sync refresh' });
    const stop = abortOnStopSignals(new Error('interrupted by signal'));
    try {
      const outcomes = await refreshAccounts(
        { prisma, client, logger, now: () => new Date(), extraLimits: config.sync.extraLimits, signal: stop.signal },
        ids,
      );
      for (const outcome of outcomes) context.stdout.write(`${values.json ? JSON.stringify(outcome) : lineOf(outcome)}\n`);
      return outcomes.every((o) => SETTLED.has(o.outcome)) ? EXIT.ok : EXIT.failed;
    } finally {
      stop.unwire();
      await prisma.$disconnect();
    }
  },
};

function lineOf(outcome: RefreshOutcome): string {
  return `${outcome.id}\t${outcome.outcome}${outcome.detail === undefined ? '' : `\t${outcome.detail}`}`;
}
