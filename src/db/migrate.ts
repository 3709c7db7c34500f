// Applies prisma/migrations/*/migration.sql without Prisma's schema-engine binary (which cannot be
// downloaded where account-sync runs), keeping `_prisma_migrations` exactly as the engine does,
// so that `prisma migrate deploy` and `prisma migrate status` agree with us wherever they exist.
import { randomUUID } from 'node:crypto';
import { escapeIdentifier, type Client } from 'pg';
import { AccountSyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { connectCreatingDatabase } from './create-database.js';
import { describeDatabaseUrl, prismaSchemaOf, redactPassword, serverLabel } from './database-url.js';
import { checksumMatches, defaultMigrationsDir, listMigrations, type MigrationFile } from './migration-files.js';
import { isApplied, isFailed, MigrationHistory, type MigrationRecord } from './migration-history.js';
import { describePgError, isConnectionFailure, sqlStateOf } from './pg-client.js';

export { checksumMatches, defaultMigrationsDir, listMigrations, type MigrationFile };

export interface MigrateOptions {
  databaseUrl: string;
  logger: Logger;
  /** Defaults to the package's prisma/migrations. */
  migrationsDir?: string;
  /** How long to wait for a concurrent migrator to finish; default 60 s, 0 waits indefinitely. */
  lockTimeoutMs?: number;
}

export interface MigrateResult {
  createdDatabase: boolean;
  /** Names of the migrations this run applied, in order. */
  applied: string[];
  /** Migrations of the folder that were applied before this run. */
  alreadyApplied: number;
}

/**
 * The session advisory lock key of Prisma's schema engine. Taking the same one makes this and
 * `prisma migrate deploy` exclude each other as well as concurrent copies of ourselves.
 */
export const PRISMA_MIGRATE_LOCK_KEY = 72707369;

const DEFAULT_LOCK_TIMEOUT_MS = 60_000;

export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const { databaseUrl, logger } = options;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  if (!Number.isFinite(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new RangeError(`lockTimeoutMs must be a non-negative number of milliseconds, not ${lockTimeoutMs}`);
  }
  const target = describeDatabaseUrl(databaseUrl);
  const where = `database ${target.database} on ${serverLabel(target)}`;
  // Read the folder first: a broken one is not worth a connection, let alone a new database.
  const migrations = await listMigrations(options.migrationsDir ?? defaultMigrationsDir());

  const { client, createdDatabase } = await connectCreatingDatabase(databaseUrl, target, logger);
  try {
    await acquireLock(client, lockTimeoutMs, where);
    try {
      const history = new MigrationHistory(client, await useSchema(client, databaseUrl));
      await history.ensureTable();
      const records = await history.list();
      refuseIfFailed(records);
      warnAboutDivergence(records, migrations, logger);

      // Prisma's rule: a migration is pending unless some row for it was not rolled back.
      const pending = migrations.filter(
        (migration) => !records.some((r) => r.migrationName === migration.name && r.rolledBackAt === null),
      );
      const applied: string[] = [];
      for (const migration of pending) {
        await applyMigration(client, history, migration, logger);
        applied.push(migration.name);
      }
      logger.info({ database: target.database, applied, alreadyApplied: migrations.length - pending.length }, 'Migrations done');
      return { createdDatabase, applied, alreadyApplied: migrations.length - pending.length };
    } finally {
      // Closing the session releases the lock too, so a failure here changes nothing.
      await client.query(`SELECT pg_advisory_unlock(${PRISMA_MIGRATE_LOCK_KEY})`).catch(() => undefined);
    }
  } catch (error) {
    throw asMigrateError(error, where, databaseUrl);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Waits for the lock at most `timeoutMs`, through the server's lock_timeout: no polling. */
async function acquireLock(client: Client, timeoutMs: number, where: string): Promise<void> {
  await client.query(`SELECT set_config('lock_timeout', $1, false)`, [String(Math.ceil(timeoutMs))]);
  try {
    // Literally as Prisma issues it, so that it reads the same in pg_stat_activity.
    await client.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
  } catch (error) {
    if (sqlStateOf(error) === '55P03') {
      throw new AccountSyncError(
        'MIGRATION_FAILED',
        `Timed out after ${timeoutMs} ms waiting for the migration lock of ${where} ` +
          `(pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})): another account-sync migrate or prisma migrate deploy is still running. ` +
          'No migration was applied; run migrate again once it has finished.',
        { cause: error },
      );
    }
    throw error;
  }
  // Migration scripts run with the session's usual settings, not with our wait limit.
  await client.query('RESET lock_timeout');
}

/**
 * Prisma puts `_prisma_migrations` in the URL's `?schema=` (default public) and, when the
 * parameter is given, runs the scripts with that schema as search_path; so do we.
 */
async function useSchema(client: Client, databaseUrl: string): Promise<string> {
  const { schema, explicit } = prismaSchemaOf(databaseUrl);
  if (!explicit) return schema;
  const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
  // Only when missing: CREATE SCHEMA IF NOT EXISTS demands the CREATE privilege even when it exists.
  if (rowCount === 0) await client.query(`CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(schema)}`);
  await client.query(`SELECT set_config('search_path', $1, false)`, [escapeIdentifier(schema)]);
  return schema;
}

/** Prisma's P3009: after a failed migration nothing more is applied until a person resolves it. */
function refuseIfFailed(records: MigrationRecord[]): void {
  const failed = records.filter(isFailed);
  if (failed.length === 0) return;
  const names = [...new Set(failed.map((r) => r.migrationName))];
  const described = failed
    .map((r) => `${r.migrationName} (started ${r.startedAt.toISOString()}${r.logs ? `: ${summariseLogs(r.logs)}` : ''})`)
    .join('; ');
  throw new AccountSyncError(
    'MIGRATION_FAILED',
    `Found failed migrations, so no new ones are applied (as Prisma's P3009): ${described}. ` +
      'Undo whatever part of it reached the database, fix its migration.sql, then mark it rolled back with ' +
      `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name IN (${names.map(sqlLiteral).join(', ')}) AND finished_at IS NULL AND rolled_back_at IS NULL; ` +
      `(or \`prisma migrate resolve --rolled-back ${names[0]}\` where the Prisma engine is available), and run migrate again.`,
  );
}

/** Prisma warns about both, and applies the rest regardless. */
function warnAboutDivergence(records: MigrationRecord[], migrations: MigrationFile[], logger: Logger): void {
  const files = new Map(migrations.map((m) => [m.name, m]));
  const warnedMissing = new Set<string>();
  for (const record of records.filter(isApplied)) {
    const file = files.get(record.migrationName);
    if (!file) {
      if (warnedMissing.has(record.migrationName)) continue;
      warnedMissing.add(record.migrationName);
      logger.warn(
        { migration: record.migrationName },
        `Migration ${record.migrationName} is recorded as applied but is missing from the migrations folder`,
      );
    } else if (!checksumMatches(file.sql, record.checksum)) {
      logger.warn(
        { migration: record.migrationName, recordedChecksum: record.checksum, fileChecksum: file.checksum },
        `Migration ${record.migrationName} was modified after it was applied: its checksum no longer matches _prisma_migrations`,
      );
    }
  }
}

/**
 * Runs one script in a transaction together with its bookkeeping, so that the database never
 * holds half a migration, nor a migration without its row (unless the script COMMITs itself).
 */
async function applyMigration(client: Client, history: MigrationHistory, migration: MigrationFile, logger: Logger): Promise<void> {
  const id = randomUUID();
  logger.info({ migration: migration.name }, `Applying migration ${migration.name}`);
  await client.query('BEGIN');
  let startedAt: Date;
  try {
    startedAt = await history.recordStarted(id, migration.name, migration.checksum);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  try {
    // No parameters: node-postgres then uses the simple query protocol, which takes a whole file
    // of statements, dollar-quoted bodies included, as Prisma's engine sends it.
    await client.query(migration.sql);
    await history.recordFinished(id);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (isConnectionFailure(error)) throw error;
    const reason = describeScriptError(error, migration.sql);
    let outcome: string;
    try {
      const partial = await history.recordFailed(id, migration.name, migration.checksum, startedAt, failureLogs(migration.name, error, reason));
      outcome = partial
        ? 'It ended the transaction itself (a COMMIT in migration.sql), so the statements before that COMMIT were applied; it is recorded as failed.'
        : 'Nothing of it was applied; it is recorded as failed.';
    } catch (recordError) {
      logger.error({ migration: migration.name, err: recordError }, 'Could not record the failed migration');
      outcome = `Nothing of it was applied, and the failure could not be recorded (${describePgError(recordError)}).`;
    }
    throw new AccountSyncError(
      'MIGRATION_FAILED',
      `Migration ${migration.name} failed: ${reason}. ${outcome} ` +
        `Fix its migration.sql, then mark the attempt rolled back with UPDATE "_prisma_migrations" SET rolled_back_at = now() ` +
        `WHERE migration_name = ${sqlLiteral(migration.name)} AND finished_at IS NULL AND rolled_back_at IS NULL; ` +
        `(or \`prisma migrate resolve --rolled-back ${migration.name}\`), and run migrate again.`,
      { cause: error },
    );
  }
  logger.info({ migration: migration.name }, `Applied migration ${migration.name}`);
}

/** PostgreSQL's message, SQLSTATE and the line of migration.sql it points at. */
function describeScriptError(error: unknown, sql: string): string {
  const code = sqlStateOf(error);
  const position = Number((error as { position?: string }).position);
  const line = Number.isInteger(position) && position > 0 ? sql.slice(0, position - 1).split('\n').length : undefined;
  const where = [code && `SQLSTATE ${code}`, line && `line ${line} of migration.sql`].filter(Boolean).join(', ');
  return where ? `${describePgError(error)} (${where})` : describePgError(error);
}

/** The `logs` column, in the spirit of Prisma's P3018 report, which `prisma migrate status` shows. */
function failureLogs(name: string, error: unknown, reason: string): string {
  return [
    `Migration ${name} failed to apply (account-sync migrate).`,
    '',
    `Database error code: ${sqlStateOf(error) ?? 'none'}`,
    '',
    'Database error:',
    reason,
  ].join('\n');
}

function summariseLogs(logs: string): string {
  // Prisma's logs carry terminal colour codes and several paragraphs; one line is enough here.
  // eslint-disable-next-line no-control-regex
  const text = logs.replace(/\x1b\[[0-9;]*m/g, '').replace(/\s+/g, ' ').trim();
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Lets typed errors through; the rest becomes DB_UNAVAILABLE or DB_ERROR, without the password. */
function asMigrateError(error: unknown, where: string, databaseUrl: string): unknown {
  if (error instanceof AccountSyncError) return error;
  if (isConnectionFailure(error)) {
    return new AccountSyncError(
      'DB_UNAVAILABLE',
      redactPassword(`Lost the connection to ${where} while migrating: ${describePgError(error)}. Run migrate again; a migration that did not commit is applied then.`, databaseUrl),
      { cause: error },
    );
  }
  return new AccountSyncError('DB_ERROR', redactPassword(`Migrating ${where} failed: ${describePgError(error)}`, databaseUrl), {
    cause: error,
  });
}
