// `account-sync status [--json] [--runs N]`: the mirror's health, for people and for monitoring.
// Exit code 0 when fresh, 3 when stale or when no run has succeeded yet. Composition root.
import { buildStatusReport } from '../analytics/status-report.js';
import { statusJson, statusText } from '../analytics/status-format.js';
import { assertMigrated } from '../db/migration-check.js';
import { createPrisma } from '../db/prisma.js';
import { EXIT } from '../exit-codes.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';

export const STATUS_USAGE = 'usage: account-sync status [--json] [--runs N]';

const COMMAND_LINE = {
  name: 'status',
  usage: STATUS_USAGE,
  options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '10' } },
} as const;

export const statusCommand: Command = {
  run: (args, context) => runStatus(args, context),
};

export async function runStatus(
  args: string[],
  context: CommandContext,
  deps: { now?: () => Date } = {},
): Promise<number> {
  const parsed = parseCommandLine(COMMAND_LINE, args, context);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  if (!/^\d{1,4}$/.test(values.runs)) return usageError(COMMAND_LINE, context, '--runs must be a whole number from 0 to 9999');
  const { config } = setUp('status', context);
  const prisma = createPrisma(config.database.url, { poolSize: 4, applicationName: 'account-sync status' });
  try {
    // A database behind this version lacks tables the report reads: say so, not "relation does not exist".
    await assertMigrated(prisma);
    const report = await buildStatusReport(prisma, {
      runs: Number(values.runs),
      intervalMs: config.schedule.intervalMs,
      now: (deps.now ?? (() => new Date()))(),
    });
    context.stdout.write(`${values.json ? statusJson(report) : statusText(report)}\n`);
    return report.state === 'ok' ? EXIT.ok : EXIT.stale;
  } finally {
    await prisma.$disconnect();
  }
}
