// Connects to the target database, creating it first when the server says it does not exist,
// the way `prisma migrate deploy` does: from a maintenance database of the same server, with
// the same credentials.
import { escapeIdentifier, type Client } from 'pg';
import { AccountSyncError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redactPassword, serverLabel, withDatabaseName, type DatabaseTarget } from './database-url.js';
import { describePgError, openClient, sqlStateOf } from './pg-client.js';

/** Prisma's candidates: `postgres` on most servers, `template1` always, `defaultdb` on some managed ones. */
const MAINTENANCE_DATABASES = ['postgres', 'template1', 'defaultdb'];

const APPLICATION_NAME = 'account-sync migrate';

export interface OpenedDatabase {
  client: Client;
  /** Whether this call created the database (false if it existed or a concurrent run created it). */
  createdDatabase: boolean;
}

export async function connectCreatingDatabase(
  databaseUrl: string,
  target: DatabaseTarget,
  logger: Logger,
): Promise<OpenedDatabase> {
  try {
    return { client: await openClient(databaseUrl, APPLICATION_NAME), createdDatabase: false };
  } catch (error) {
    if (sqlStateOf(error) !== '3D000') throw unavailable(`Cannot connect to ${where(target)}`, error, databaseUrl);
  }
  const createdDatabase = await createDatabase(databaseUrl, target);
  if (createdDatabase) logger.info({ database: target.database, server: serverLabel(target) }, 'Created the database');
  try {
    return { client: await openClient(databaseUrl, APPLICATION_NAME), createdDatabase };
  } catch (error) {
    throw unavailable(`Cannot connect to ${where(target)} after creating it`, error, databaseUrl);
  }
}

/** Resolves to false when someone else created it between our attempt to connect and ours to create. */
async function createDatabase(databaseUrl: string, target: DatabaseTarget): Promise<boolean> {
  const admin = await openMaintenanceDatabase(databaseUrl, target);
  try {
    await admin.query(`CREATE DATABASE ${escapeIdentifier(target.database)}`);
    return true;
  } catch (error) {
    // duplicate_database, or unique_violation when two CREATEs collide in pg_database itself.
    const code = sqlStateOf(error);
    if (code === '42P04' || code === '23505') return false;
    throw unavailable(`${where(target)} does not exist and could not be created`, error, databaseUrl);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function openMaintenanceDatabase(databaseUrl: string, target: DatabaseTarget): Promise<Client> {
  for (const name of MAINTENANCE_DATABASES) {
    try {
      return await openClient(withDatabaseName(databaseUrl, name), APPLICATION_NAME);
    } catch (error) {
      // Missing, or closed to this user: try the next candidate. Anything else is the server's answer.
      const code = sqlStateOf(error);
      if (code === '3D000' || code === '42501') continue;
      throw unavailable(
        `${where(target)} does not exist, and the maintenance database ${name} to create it from is unreachable`,
        error,
        databaseUrl,
      );
    }
  }
  throw new AccountSyncError(
    'DB_UNAVAILABLE',
    `${where(target)} does not exist, and none of the maintenance databases (${MAINTENANCE_DATABASES.join(', ')}) can be used to create it; create it by hand`,
  );
}

function where(target: DatabaseTarget): string {
  return `database ${target.database} on ${serverLabel(target)}`;
}

function unavailable(summary: string, error: unknown, databaseUrl: string): AccountSyncError {
  return new AccountSyncError('DB_UNAVAILABLE', redactPassword(`${summary}: ${describePgError(error)}`, databaseUrl), {
    cause: error,
  });
}
