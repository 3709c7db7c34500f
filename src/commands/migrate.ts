// `account-sync migrate`: creates the database if needed and applies pending migrations, then
// says in one line what it did. Logs go to stderr as JSON; the summary is the only stdout.
import { describeDatabaseUrl, redactPassword } from '../db/database-url.js';
import { migrate, type MigrateResult } from '../db/migrate.js';
import { AccountSyncError, type ErrorCode } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { parseCommandLine } from './arguments.js';
import { setUp, type Command } from './command.js';

/** Failures an operator can act on from the message alone; anything else is a bug and propagates. */
const REPORTED: ReadonlySet<ErrorCode> = new Set(['MIGRATION_FAILED', 'DB_UNAVAILABLE', 'DB_ERROR']);

const COMMAND_LINE = {
  name: 'migrate',
  usage: 'usage: account-sync migrate  (DATABASE_URL names the database; it is created if missing)',
  options: {},
};

export const migrateCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { config, secrets, logger } = setUp('migrate', context);
    const databaseUrl = config.database.url;
    try {
      const result = await migrate({ databaseUrl, logger });
      context.stdout.write(`${summarise(result, describeDatabaseUrl(databaseUrl).database)}\n`);
      return EXIT.ok;
    } catch (error) {
      if (error instanceof AccountSyncError && REPORTED.has(error.code)) {
        const message = secrets.redact(redactPassword(error.message, databaseUrl)).replace(/\s+/g, ' ').trim();
        context.stderr.write(`account-sync migrate: ${message}\n`);
        return EXIT.failed;
      }
      throw error;
    }
  },
};

export function summarise(result: MigrateResult, database: string): string {
  const created = result.createdDatabase ? '; database created' : '';
  if (result.applied.length === 0) {
    return `Database ${database} is up to date (${plural(result.alreadyApplied, 'migration')})${created}.`;
  }
  return `Applied ${plural(result.applied.length, 'migration')} (${result.applied.join(', ')}) to ${database}${created}.`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
