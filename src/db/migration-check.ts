// Whether the database's schema is the one this release was built for. A release that adds a
// table, run against a database nobody migrated, would otherwise fail deep in a run on a missing
// relation; a release run against a database that a newer one has migrated (a rolling deploy,
// a rollback) would write with assumptions the schema no longer holds. Both are said, with
// what to do, before anything is written.
import { AccountSyncError, errorCodeOf } from '../errors.js';
import { currentRelease } from '../release.js';
import { defaultMigrationsDir, listMigrations } from './migration-files.js';
import type { Db } from './prisma.js';
import { sqlStateOf } from './transactions.js';

/**
 * Throws DB_UNKNOWN_MIGRATIONS naming the applied migrations this release does not ship (a
 * newer release migrated the database), or else DB_NOT_MIGRATED naming those it lacks.
 */
export async function assertMigrated(db: Db, dir: string = defaultMigrationsDir()): Promise<void> {
  const expected = (await listMigrations(dir)).map((migration) => migration.name);
  let applied: string[];
  try {
    // Unqualified: every connection's search_path is the mirror's schema.
    const rows = await db.$queryRaw<Array<{ name: string }>>`
      SELECT DISTINCT migration_name AS name FROM _prisma_migrations
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY 1`;
    applied = rows.map((row) => row.name);
  } catch (error) {
    if (sqlStateOf(error) !== '42P01') throw error;
    applied = [];
  }
  const known = new Set(expected);
  const unknown = applied.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    throw new AccountSyncError(
      'DB_UNKNOWN_MIGRATIONS',
      `the database has ${unknown.length} migration(s) that account-sync ${currentRelease().version} does not know (${unknown.join(', ')}): ` +
        'a newer release has migrated it, and this one writes nothing to a schema it was not built for; run the newer release',
    );
  }
  const done = new Set(applied);
  const pending = expected.filter((name) => !done.has(name));
  if (pending.length > 0) {
    throw new AccountSyncError(
      'DB_NOT_MIGRATED',
      `the database lacks ${pending.length} migration(s) this version needs (${pending.join(', ')}): run \`account-sync migrate\` first`,
    );
  }
}

/** Whether `error` says the schema is not this release's (rather than, say, the database being down). */
export function isSchemaMismatch(error: unknown): boolean {
  const code = errorCodeOf(error);
  return code === 'DB_NOT_MIGRATED' || code === 'DB_UNKNOWN_MIGRATIONS';
}
