// The migrations folder in Prisma's layout (`<dir>/<timestamp>_<name>/migration.sql`) and the
// checksums Prisma keeps of it, computed the way Prisma's schema engine does, so that
// `_prisma_migrations` rows written by either side are accepted by the other.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AccountSyncError } from '../errors.js';

export interface MigrationFile {
  /** The folder name, which is also `_prisma_migrations.migration_name`. */
  name: string;
  sql: string;
  /** sha256 of the file's bytes, lowercase hex: what Prisma stores. */
  checksum: string;
}

/**
 * <package root>/prisma/migrations. This module sits two levels below the root both as
 * src/db/*.ts (tsx, vitest) and as dist/db/*.js (compiled), so one relative path serves both.
 */
export function defaultMigrationsDir(): string {
  return fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
}

/** Every migration folder, in the order Prisma applies them: by name, byte-wise. */
export async function listMigrations(dir: string): Promise<MigrationFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new AccountSyncError('MIGRATION_FAILED', `Cannot read the migrations folder ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // Like Prisma, every sub-folder is a migration (files such as migration_lock.toml are not);
  // dot-folders are editor or VCS litter, never migrations.
  const names = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort(compareBytewise);

  return Promise.all(
    names.map(async (name) => {
      const file = join(dir, name, 'migration.sql');
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (error) {
        // Prisma refuses too: skipping it would let later migrations run without it.
        throw new AccountSyncError('MIGRATION_FAILED', `Migration ${name} has no readable migration.sql (${file}): ${(error as Error).message}`, {
          cause: error,
        });
      }
      return { name, sql: bytes.toString('utf8'), checksum: sha256Hex(bytes) };
    }),
  );
}

/**
 * Whether a recorded checksum still matches a script. Mirrors Prisma's own comparison: line
 * endings do not count (git may have converted them), and rows written by old Prisma versions
 * hold hex without zero padding (prisma-engines#1887).
 */
export function checksumMatches(sql: string, recorded: string): boolean {
  const variants = [sql, sql.replaceAll('\r\n', '\n'), sql.replaceAll('\n', '\r\n')];
  return variants.some((script) => {
    const digest = createHash('sha256').update(script, 'utf8').digest();
    const rendered =
      recorded.length !== 0 && recorded.length !== 64
        ? [...digest].map((byte) => byte.toString(16)).join('')
        : digest.toString('hex');
    return rendered === recorded;
  });
}

function sha256Hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function compareBytewise(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
