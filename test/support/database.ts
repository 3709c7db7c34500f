// One throw-away PostgreSQL database per test file, so files can run side by side:
//   let db: TestDatabase;
//   beforeAll(async () => { db = await createTestDatabase('sync_writer'); });
//   afterAll(() => db?.drop());
import { randomBytes } from 'node:crypto';
import { escapeIdentifier, type Client } from 'pg';
import { inject } from 'vitest';
import { withDatabaseName } from '../../src/db/database-url.js';
import { migrate } from '../../src/db/migrate.js';
import { describePgError, openClient } from '../../src/db/pg-client.js';
import { silentLogger } from '../../src/logger.js';

/** A superuser connection to the test server (any database on it; `postgres` by default). */
export const ADMIN_DATABASE_URL: string = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  name: string;
  /** Ends every connection to the database and drops it; safe to call twice. */
  drop(): Promise<void>;
}

const PREFIX = 'as_test_';
const MAX_IDENTIFIER_LENGTH = 63;

/**
 * Creates `as_test_<label>_<random>` and, unless `migrate: false`, gives it the project's
 * migrations: as a copy of the run's template database (migrated once by the global setup,
 * exactly as `account-sync migrate` would), or by migrating it where there is no template.
 */
export async function createTestDatabase(label: string, options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const migrated = options.migrate ?? true;
  return createDatabase(label, migrated, migrated ? providedTemplate() : undefined);
}

async function createDatabase(label: string, migrated: boolean, template: string | undefined): Promise<TestDatabase> {
  const name = uniqueDatabaseName(label);
  const from = template === undefined ? '' : ` TEMPLATE ${escapeIdentifier(template)}`;
  await withAdmin((admin) => admin.query(`CREATE DATABASE ${escapeIdentifier(name)}${from}`));
  const database: TestDatabase = {
    name,
    url: withDatabaseName(ADMIN_DATABASE_URL, name),
    drop: () => dropDatabase(name),
  };
  if (migrated && template === undefined) {
    try {
      await migrate({ databaseUrl: database.url, logger: silentLogger() });
    } catch (error) {
      await database.drop().catch(() => undefined);
      throw error;
    }
  }
  return database;
}

/** The global setup's template, where this run has one (`npm test` does; other configs may not). */
function providedTemplate(): string | undefined {
  try {
    return inject('templateDatabase');
  } catch {
    return undefined;
  }
}

/**
 * Migrates a new database to serve as the template of this run's test databases. Its name is
 * this run's own, so two runs side by side (two checkouts) never copy each other's template.
 */
export async function createTemplateDatabase(): Promise<string> {
  const database = await createDatabase('template', true, undefined);
  return database.name;
}

export async function dropTemplateDatabase(name: string): Promise<void> {
  await dropDatabase(name);
}

/** A name no other test run uses, within PostgreSQL's 63-byte limit. */
export function uniqueDatabaseName(label: string): string {
  const suffix = `_${randomBytes(4).toString('hex')}`;
  const room = MAX_IDENTIFIER_LENGTH - PREFIX.length - suffix.length;
  const cleaned =
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, room)
      .replace(/_+$/, '') || 'db';
  return `${PREFIX}${cleaned}${suffix}`;
}

async function dropDatabase(name: string): Promise<void> {
  // WITH (FORCE) (PostgreSQL 13+) terminates the sessions a test left open, pools included.
  await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`));
}

async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  let admin: Client;
  try {
    admin = await openClient(ADMIN_DATABASE_URL, 'account-sync tests');
  } catch (error) {
    const where = new URL(ADMIN_DATABASE_URL).host;
    throw new Error(
      `The tests need PostgreSQL at ${where} (set TEST_DATABASE_URL to use another server): ${describePgError(error)}`,
      { cause: error },
    );
  }
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
