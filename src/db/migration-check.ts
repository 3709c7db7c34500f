// Whether the database has every migration this version of account-sync was built with. A
// version that adds a table, run against a database nobody migrated, would otherwise fail deep
// in a run on a missing relation; this says what to do instead, before anything is written.
import { AccountSyncError } from '../errors.js';
import { defaultMigrationsDir, listMigrations } from './migration-files.js';
import type { Db } from './prisma.js';
import { sqlStateOf } from './transactions.js';

/** Throws DB_NOT_MIGRATED naming the migrations the database lacks, if any. */
export async function assertMigrated(db: Db, dir: string = defaultMigrationsDir()): Promise<void> {
  const expected = (await listMigrations(dir)).map((migration) => migration.name);
  let applied: Set<string>;
  try {
    // Unqualified: every connection's search_path is the mirror's schema.
    const rows = await db.$queryRaw<Array<{ name: string }>>`
      SELECT migration_name AS name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
    applied = new Set(rows.map((row) => row.name));
  } catch (error) {
    if (sqlStateOf(error) !== '42P01') throw error;
    applied = new Set();
  }
  const pending = expected.filter((name) => !applied.has(name));
  if (pending.length > 0) {
    throw new AccountSyncError(
      'DB_NOT_MIGRATED',
      `the database lacks ${pending.length} migration(s) this version needs (${pending.join(', ')}): run \`account-sync migrate\` first`,
    );
  }
}
