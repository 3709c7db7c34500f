// `account-sync status [--json] [--runs N]`: the mirror's health, for people and for monitoring.
// Exit code 0 when fresh, 3 when stale or when no run has succeeded yet. Composition root.
import { parseArgs } from 'node:util';
import { loadDatabaseCommandConfig, parseScheduleConfig, type Env } from '../config.js';
import { ConfigError } from '../errors.js';
import { createPrisma } from '../db/prisma.js';
import { buildStatusReport, STALE_EXIT_CODE } from '../analytics/status-report.js';
import { statusJson, statusText } from '../analytics/status-format.js';
import type { Command, CommandContext } from './command.js';

export const STATUS_USAGE = 'usage: account-sync status [--json] [--runs N]';

export const statusCommand: Command = {
  run: (args, context) => runStatus(args, context),
};

export async function runStatus(
  args: string[],
  context: CommandContext,
  deps: { now?: () => Date } = {},
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: { json: { type: 'boolean', default: false }, runs: { type: 'string', default: '10' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    context.stderr.write(`account-sync status: ${(error as Error).message}\n${STATUS_USAGE}\n`);
    return 2;
  }
  if (!/^\d{1,4}$/.test(values.runs)) {
    context.stderr.write(`account-sync status: --runs must be a whole number from 0 to 9999\n${STATUS_USAGE}\n`);
    return 2;
  }
  const { config, schedule } = loadConfig(context.env);
  const prisma = createPrisma(config.database.url, { poolSize: 4, applicationName: 'account-sync status' });
  try {
    const report = await buildStatusReport(prisma, {
      runs: Number(values.runs),
      intervalMs: schedule.intervalMs,
      now: (deps.now ?? (() => new Date()))(),
    });
    context.stdout.write(`${values.json ? statusJson(report) : statusText(report)}\n`);
    return report.state === 'ok' ? 0 : STALE_EXIT_CODE;
  } finally {
    await prisma.$disconnect();
  }
}

/** Both sections, with every bad setting reported in one message. */
function loadConfig(env: Env) {
  const problems: Array<{ key: string; message: string }> = [];
  const attempt = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
      return undefined;
    }
  };
  const config = attempt(() => loadDatabaseCommandConfig(env));
  const schedule = attempt(() => parseScheduleConfig(env));
  if (!config || !schedule) throw new ConfigError(problems);
  return { config, schedule };
}
