// migrate() against the real PostgreSQL server, each scenario in a database of its own.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Client, DatabaseError } from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrateCommand, summarise } from '../../src/commands/migrate.js';
import { withDatabaseName } from '../../src/db/database-url.js';
import {
  checksumMatches,
  defaultMigrationsDir,
  listMigrations,
  migrate,
  PRISMA_MIGRATE_LOCK_KEY,
  type MigrationFile,
} from '../../src/db/migrate.js';
import { AccountSyncError, ConfigError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { BUILT_CLI } from '../support/build.js';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/database.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

/** An existing, empty database (migrations not applied). */
async function emptyDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label, { migrate: false });
  cleanups.push(db.drop);
  return db;
}

/** A database name that does not exist yet; dropped after the file whatever the test did. */
async function absentDatabase(label: string): Promise<TestDatabase> {
  const db = await emptyDatabase(label);
  await db.drop();
  return db;
}

async function query<T extends Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function migrationRows(url: string) {
  return query<{
    id: string;
    checksum: string;
    finished_at: Date | null;
    migration_name: string;
    logs: string | null;
    rolled_back_at: Date | null;
    started_at: Date;
    applied_steps_count: number;
  }>(url, 'SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name');
}

async function tableNames(url: string): Promise<string[]> {
  const rows = await query<{ table_name: string }>(
    url,
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((row) => row.table_name);
}

/** A migrations folder in Prisma's layout under the system temp directory. */
async function migrationsFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'account-sync-migrations-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'migration_lock.toml'), 'provider = "postgresql"\n');
  for (const [name, sql] of Object.entries(files)) await writeMigration(dir, name, sql);
  return dir;
}

async function writeMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name), { recursive: true });
  await writeFile(join(dir, name, 'migration.sql'), sql);
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** pino writing into memory, as the JSON objects it logged. */
function capturedLogger() {
  const records: Array<{ level: number; msg: string; migration?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return { logger: createLogger({ level: 'warn' }, stream), records };
}

function memoryStream() {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  return { stream, text: () => text };
}

/** A local port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function expectRejection(promise: Promise<unknown>): Promise<AccountSyncError> {
  const error = await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (rejection: unknown) => rejection,
  );
  expect(error).toBeInstanceOf(AccountSyncError);
  return error as AccountSyncError;
}

let project: MigrationFile[];
beforeAll(async () => {
  project = await listMigrations(defaultMigrationsDir());
});

describe('the migrations folder', () => {
  it('is found two levels above this module', () => {
    expect(defaultMigrationsDir()).toBe(join(REPO_ROOT, 'prisma', 'migrations'));
  });

  it('lists each migration folder by name with the sha256 of its file, as Prisma does', async () => {
    const init = await readFile(join(REPO_ROOT, 'prisma/migrations/20261127000000_init/migration.sql'));
    expect(project[0]).toEqual({ name: '20261127000000_init', sql: init.toString('utf8'), checksum: sha256(init) });
    // Read from the folder here, not through the code under test, which the other tests take as
    // their list of what should be applied.
    const folders = (await readdir(join(REPO_ROOT, 'prisma/migrations'), { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(folders.length).toBeGreaterThanOrEqual(9);
    expect(project.map((m) => [m.name, m.checksum])).toEqual(
      await Promise.all(folders.map(async (name) => [name, sha256(await readFile(join(REPO_ROOT, 'prisma/migrations', name, 'migration.sql')))])),
    );
    expect(project.map((m) => m.name)).toEqual([...project.map((m) => m.name)].sort());
    expect(project.map((m) => m.name)).not.toContain('migration_lock.toml');
  });

  it('sorts by name and refuses a folder without migration.sql', async () => {
    const dir = await migrationsFolder({ '20260102_b': 'SELECT 2;\n', '20260101_a': 'SELECT 1;\n' });
    expect((await listMigrations(dir)).map((m) => [m.name, m.checksum])).toEqual([
      ['20260101_a', sha256('SELECT 1;\n')],
      ['20260102_b', sha256('SELECT 2;\n')],
    ]);
    await mkdir(join(dir, '20260103_empty'));
    const error = await expectRejection(listMigrations(dir));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toContain('Migration 20260103_empty has no readable migration.sql');
  });

  it('compares checksums the way Prisma does: line endings ignored, old unpadded hex accepted', () => {
    // Prisma's own test vector.
    expect(checksumMatches('hello', '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824')).toBe(true);
    expect(checksumMatches('a\r\nb\r\n', sha256('a\nb\n'))).toBe(true);
    expect(checksumMatches('a\nb\n', sha256('a\r\nb\r\n'))).toBe(true);
    const unpadded = [...createHash('sha256').update('hello').digest()].map((b) => b.toString(16)).join('');
    expect(unpadded).not.toHaveLength(64);
    expect(checksumMatches('hello', unpadded)).toBe(true);
    expect(checksumMatches('hello!', sha256('hello'))).toBe(false);
    expect(checksumMatches('abc\n', sha256('abc'))).toBe(false);
  });
});

describe('migrate() on a database that does not exist yet', () => {
  let db: TestDatabase;
  let first: Awaited<ReturnType<typeof migrate>>;

  beforeAll(async () => {
    db = await absentDatabase('migrate_fresh');
    first = await migrate({ databaseUrl: db.url, logger: silentLogger() });
  });

  it('creates the database and applies every migration', () => {
    expect(first).toEqual({ createdDatabase: true, applied: project.map((m) => m.name), alreadyApplied: 0 });
  });

  it('creates the tables of the first migration', async () => {
    expect(await tableNames(db.url)).toEqual(
      expect.arrayContaining([
        '_prisma_migrations',
        'account_status_changes',
        'account_users',
        'accounts',
        'rejected_records',
        'sync_run_pages',
        'sync_runs',
        'users',
      ]),
    );
    // The dollar-quoted plpgsql trigger function of the init migration went through whole.
    const [trigger] = await query<{ n: number }>(
      db.url,
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'account_status_changes_append_only'`,
    );
    expect(trigger?.n).toBe(1);
  });

  it('creates _prisma_migrations with the columns Prisma creates', async () => {
    const columns = await query(
      db.url,
      `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'character varying', character_maximum_length: 36, is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', character_maximum_length: 64, is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', character_maximum_length: 255, is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', character_maximum_length: null, is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', character_maximum_length: null, is_nullable: 'NO', column_default: '0' },
    ]);
    const [primaryKey] = await query<{ columns: string }>(
      db.url,
      `SELECT string_agg(a.attname, ',') AS columns FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = '_prisma_migrations'::regclass AND i.indisprimary`,
    );
    expect(primaryKey?.columns).toBe('id');
  });

  it('records each migration as Prisma does', async () => {
    const rows = await migrationRows(db.url);
    expect(rows.map((row) => row.migration_name)).toEqual(project.map((m) => m.name));
    for (const [index, row] of rows.entries()) {
      const file = await readFile(join(defaultMigrationsDir(), row.migration_name, 'migration.sql'));
      expect(row.id).toMatch(UUID);
      expect(row.checksum).toBe(sha256(file));
      expect(row.checksum).toBe(project[index]?.checksum);
      expect(row.applied_steps_count).toBe(1);
      expect(row.logs).toBeNull();
      expect(row.rolled_back_at).toBeNull();
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    }
  });

  it('applies nothing the second time', async () => {
    const before = await migrationRows(db.url);
    expect(await migrate({ databaseUrl: db.url, logger: silentLogger() })).toEqual({
      createdDatabase: false,
      applied: [],
      alreadyApplied: project.length,
    });
    expect(await migrationRows(db.url)).toEqual(before);
  });
});

describe("Prisma's ?schema= parameter", () => {
  it('puts the tables and _prisma_migrations in that schema, creating it, as prisma migrate deploy would', async () => {
    const db = await emptyDatabase('migrate_schema');
    const url = new URL(db.url);
    url.searchParams.set('schema', 'Mirror');
    const names = project.map((m) => m.name);
    expect(await migrate({ databaseUrl: url.toString(), logger: silentLogger() })).toEqual({
      createdDatabase: false,
      applied: names,
      alreadyApplied: 0,
    });
    expect(
      await query(
        db.url,
        `SELECT table_schema, table_name FROM information_schema.tables
          WHERE table_name IN ('_prisma_migrations', 'accounts') ORDER BY table_name`,
      ),
    ).toEqual([
      { table_schema: 'Mirror', table_name: '_prisma_migrations' },
      { table_schema: 'Mirror', table_name: 'accounts' },
    ]);
    expect(await migrate({ databaseUrl: url.toString(), logger: silentLogger() })).toEqual({
      createdDatabase: false,
      applied: [],
      alreadyApplied: names.length,
    });
  });
});

describe('concurrent migrate() runs', () => {
  it('both succeed on a database that does not exist yet, and each migration is recorded once', async () => {
    const db = await absentDatabase('migrate_race');
    const results = await Promise.all([
      migrate({ databaseUrl: db.url, logger: silentLogger() }),
      migrate({ databaseUrl: db.url, logger: silentLogger() }),
    ]);
    const [winner, loser] = [...results].sort((a, b) => b.applied.length - a.applied.length);
    expect(winner).toEqual({ createdDatabase: expect.any(Boolean), applied: project.map((m) => m.name), alreadyApplied: 0 });
    expect(loser).toEqual({ createdDatabase: expect.any(Boolean), applied: [], alreadyApplied: project.length });
    expect(results.filter((r) => r.createdDatabase)).toHaveLength(1);
    expect((await migrationRows(db.url)).map((r) => r.migration_name)).toEqual(project.map((m) => m.name));
  });

  it('queue behind the lock Prisma uses, across processes, and apply each migration once', async () => {
    const db = await emptyDatabase('migrate_lock');
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
      const inProcess = [1, 2].map(() => migrate({ databaseUrl: db.url, logger: silentLogger() }));
      const child = runCli(['migrate'], { DATABASE_URL: db.url, LOG_LEVEL: 'silent' });

      // All three are blocked on the lock at the same time before any may proceed.
      await vi.waitFor(
        async () => {
          const [waiting] = await query<{ n: number }>(
            db.url,
            `SELECT count(*)::int AS n FROM pg_locks
              WHERE locktype = 'advisory' AND classid = 0 AND objid = $1 AND objsubid = 1 AND NOT granted
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
            [PRISMA_MIGRATE_LOCK_KEY],
          );
          expect(waiting?.n).toBe(3);
        },
        { timeout: 30_000, interval: 50 },
      );
      expect(await tableNames(db.url)).toEqual([]);
      await holder.query(`SELECT pg_advisory_unlock(${PRISMA_MIGRATE_LOCK_KEY})`);

      const [results, cli] = await Promise.all([Promise.all(inProcess), child]);
      expect(cli.stderr).toBe('');
      expect(cli.code).toBe(0);
      const cliApplied = cli.stdout.startsWith('Applied');
      const appliers = results.filter((r) => r.applied.length > 0).length + (cliApplied ? 1 : 0);
      expect(appliers).toBe(1);
      for (const result of results) {
        expect([[], project.map((m) => m.name)]).toContainEqual(result.applied);
      }
      expect([
        `Applied ${project.length} migrations (${project.map((m) => m.name).join(', ')}) to ${db.name}.\n`,
        `Database ${db.name} is up to date (${project.length} migrations).\n`,
      ]).toContain(cli.stdout);
      expect((await migrationRows(db.url)).map((r) => r.migration_name)).toEqual(project.map((m) => m.name));
    } finally {
      await holder.end();
    }
  });

  it('gives up after lockTimeoutMs with a clear error, having applied nothing', async () => {
    const db = await emptyDatabase('migrate_lock_timeout');
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(${PRISMA_MIGRATE_LOCK_KEY})`);
      const error = await expectRejection(migrate({ databaseUrl: db.url, logger: silentLogger(), lockTimeoutMs: 200 }));
      expect(error.code).toBe('MIGRATION_FAILED');
      expect(error.message).toBe(
        `Timed out after 200 ms waiting for the migration lock of database ${db.name} on 127.0.0.1:5432 ` +
          '(pg_advisory_lock(72707369)): another account-sync migrate or prisma migrate deploy is still running. ' +
          'No migration was applied; run migrate again once it has finished.',
      );
      expect(await tableNames(db.url)).toEqual([]);
    } finally {
      await holder.end();
    }
  });
});

describe('a migration that fails', () => {
  const first = `CREATE TABLE "first" ("id" INTEGER NOT NULL);
-- Several statements and dollar quoting, sent as one simple query.
CREATE FUNCTION "first_count"() RETURNS bigint LANGUAGE plpgsql AS $body$
BEGIN
    RETURN (SELECT count(*) FROM "first");
END;
$body$;
DO $$ BEGIN INSERT INTO "first" VALUES (1); END $$;
`;
  const broken = `CREATE TABLE "second" ("id" INTEGER NOT NULL);
INSERT INTO "second" VALUES (1);
SELECT * FROM "does_not_exist";
`;
  const fixed = broken.replace('SELECT * FROM "does_not_exist";\n', '');
  const third = 'CREATE TABLE "third" ("id" INTEGER NOT NULL);\n';
  let db: TestDatabase;
  let dir: string;
  let failure: AccountSyncError;

  beforeAll(async () => {
    db = await emptyDatabase('migrate_failure');
    dir = await migrationsFolder({ '20260101000000_first': first, '20260102000000_broken': broken, '20260103000000_third': third });
    failure = await expectRejection(migrate({ databaseUrl: db.url, logger: silentLogger(), migrationsDir: dir }));
  });

  it('fails with MIGRATION_FAILED naming the migration and quoting PostgreSQL', () => {
    expect(failure.code).toBe('MIGRATION_FAILED');
    expect(failure.message).toBe(
      'Migration 20260102000000_broken failed: relation "does_not_exist" does not exist (SQLSTATE 42P01, line 3 of migration.sql). ' +
        'Nothing of it was applied; it is recorded as failed. Fix its migration.sql, then mark the attempt rolled back with ' +
        `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = '20260102000000_broken' AND finished_at IS NULL AND rolled_back_at IS NULL; ` +
        '(or `prisma migrate resolve --rolled-back 20260102000000_broken`), and run migrate again.',
    );
    expect(failure.cause).toBeInstanceOf(DatabaseError);
    expect((failure.cause as DatabaseError).code).toBe('42P01');
  });

  it('keeps the migrations before it and nothing of it or after it', async () => {
    expect(await tableNames(db.url)).toEqual(['_prisma_migrations', 'first']);
    expect(await query(db.url, 'SELECT "first_count"() AS n')).toEqual([{ n: '1' }]);
  });

  it('is recorded as failed, as Prisma records it', async () => {
    const rows = await migrationRows(db.url);
    expect(rows.map((r) => [r.migration_name, r.finished_at !== null, r.applied_steps_count])).toEqual([
      ['20260101000000_first', true, 1],
      ['20260102000000_broken', false, 0],
    ]);
    const failed = rows[1]!;
    expect(failed.id).toMatch(UUID);
    expect(failed.checksum).toBe(sha256(broken));
    expect(failed.rolled_back_at).toBeNull();
    expect(failed.logs).toBe(
      'Migration 20260102000000_broken failed to apply (account-sync migrate).\n\nDatabase error code: 42P01\n\nDatabase error:\n' +
        'relation "does_not_exist" does not exist (SQLSTATE 42P01, line 3 of migration.sql)',
    );
  });

  it('blocks every later run until it is resolved, like Prisma P3009', async () => {
    const [failed] = (await migrationRows(db.url)).filter((r) => r.finished_at === null);
    const error = await expectRejection(migrate({ databaseUrl: db.url, logger: silentLogger(), migrationsDir: dir }));
    expect(error.code).toBe('MIGRATION_FAILED');
    expect(error.message).toBe(
      `Found failed migrations, so no new ones are applied (as Prisma's P3009): 20260102000000_broken (started ${failed!.started_at.toISOString()}: ` +
        'Migration 20260102000000_broken failed to apply (account-sync migrate). Database error code: 42P01 Database error: ' +
        'relation "does_not_exist" does not exist (SQLSTATE 42P01, line 3 of migration.sql)). ' +
        'Undo whatever part of it reached the database, fix its migration.sql, then mark it rolled back with ' +
        `UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name IN ('20260102000000_broken') AND finished_at IS NULL AND rolled_back_at IS NULL; ` +
        '(or `prisma migrate resolve --rolled-back 20260102000000_broken` where the Prisma engine is available), and run migrate again.',
    );
    expect(await migrationRows(db.url)).toHaveLength(2);
    expect(await tableNames(db.url)).toEqual(['_prisma_migrations', 'first']);
  });

  it('applies the fixed file once the failure is marked rolled back, without warnings', async () => {
    await query(
      db.url,
      `UPDATE "_prisma_migrations" SET rolled_back_at = now()
        WHERE migration_name = '20260102000000_broken' AND finished_at IS NULL AND rolled_back_at IS NULL`,
    );
    await writeMigration(dir, '20260102000000_broken', fixed);
    const { logger, records } = capturedLogger();
    expect(await migrate({ databaseUrl: db.url, logger, migrationsDir: dir })).toEqual({
      createdDatabase: false,
      applied: ['20260102000000_broken', '20260103000000_third'],
      alreadyApplied: 1,
    });
    expect(records).toEqual([]);
    expect(await tableNames(db.url)).toEqual(['_prisma_migrations', 'first', 'second', 'third']);
    const rows = await migrationRows(db.url);
    expect(rows.map((r) => [r.migration_name, r.checksum, r.finished_at !== null, r.rolled_back_at !== null])).toEqual([
      ['20260101000000_first', sha256(first), true, false],
      ['20260102000000_broken', sha256(broken), false, true],
      ['20260102000000_broken', sha256(fixed), true, false],
      ['20260103000000_third', sha256(third), true, false],
    ]);
  });

  it('says so when a script that COMMITs itself fails after its COMMIT', async () => {
    const selfCommitting = await emptyDatabase('migrate_self_commit');
    const folder = await migrationsFolder({
      '20260101000000_self_commit': 'CREATE TABLE "kept" ("id" INTEGER);\nCOMMIT;\nSELECT 1 / 0;\n',
    });
    const error = await expectRejection(migrate({ databaseUrl: selfCommitting.url, logger: silentLogger(), migrationsDir: folder }));
    expect(error.code).toBe('MIGRATION_FAILED');
    // A run-time error carries no position, so no line number here.
    expect(error.message).toContain(
      'Migration 20260101000000_self_commit failed: division by zero (SQLSTATE 22012). ' +
        'It ended the transaction itself (a COMMIT in migration.sql), so the statements before that COMMIT were applied; it is recorded as failed.',
    );
    expect(await tableNames(selfCommitting.url)).toEqual(['_prisma_migrations', 'kept']);
    const rows = await migrationRows(selfCommitting.url);
    expect(rows.map((r) => [r.migration_name, r.finished_at, r.rolled_back_at, r.applied_steps_count])).toEqual([
      ['20260101000000_self_commit', null, null, 0],
    ]);
    expect(rows[0]?.logs).toContain('division by zero');
  });
});

describe('a migrations folder that no longer matches the history', () => {
  it('warns about edited and about missing migrations, and carries on', async () => {
    const db = await emptyDatabase('migrate_drift');
    const a = 'CREATE TABLE "a" ("id" INTEGER);\n';
    const b = 'CREATE TABLE "b" ("id" INTEGER);\nCREATE TABLE "b2" ("id" INTEGER);\n';
    const dir = await migrationsFolder({ '20260101000000_a': a, '20260102000000_b': b, '20260103000000_c': 'SELECT 1;\n' });
    await migrate({ databaseUrl: db.url, logger: silentLogger(), migrationsDir: dir });

    await writeMigration(dir, '20260101000000_a', `${a}-- edited after it was applied\n`);
    await writeMigration(dir, '20260102000000_b', b.replaceAll('\n', '\r\n')); // a git checkout on Windows: not an edit
    await rm(join(dir, '20260103000000_c'), { recursive: true });
    await writeMigration(dir, '20260104000000_d', 'CREATE TABLE "d" ("id" INTEGER);\n');

    const { logger, records } = capturedLogger();
    expect(await migrate({ databaseUrl: db.url, logger, migrationsDir: dir })).toEqual({
      createdDatabase: false,
      applied: ['20260104000000_d'],
      alreadyApplied: 2,
    });
    expect(records.map((r) => [r.level, r.migration, r.msg])).toEqual([
      [
        40,
        '20260101000000_a',
        'Migration 20260101000000_a was modified after it was applied: its checksum no longer matches _prisma_migrations',
      ],
      [40, '20260103000000_c', 'Migration 20260103000000_c is recorded as applied but is missing from the migrations folder'],
    ]);
  });
});

describe('an unreachable server', () => {
  it('fails fast with DB_UNAVAILABLE naming host, port and database, never the password', async () => {
    const port = await closedPort();
    const url = `postgresql://postgres:S3cret-Pa55@127.0.0.1:${port}/as_nowhere`;
    const started = performance.now();
    const error = await expectRejection(migrate({ databaseUrl: url, logger: silentLogger() }));
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(error.code).toBe('DB_UNAVAILABLE');
    expect(error.message).toBe(`Cannot connect to database as_nowhere on 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(error.message).not.toContain('S3cret');
  });
});

describe('the migrate command', () => {
  async function run(env: Record<string, string>) {
    const stdout = memoryStream();
    const stderr = memoryStream();
    const code = await migrateCommand.run([], { env, stdout: stdout.stream, stderr: stderr.stream });
    return { code, stdout: stdout.text(), stderr: stderr.text() };
  }

  it('prints what it applied, then that the database is up to date', async () => {
    const db = await absentDatabase('migrate_command');
    const names = project.map((m) => m.name);
    expect(await run({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' })).toEqual({
      code: 0,
      stdout: `Applied ${names.length} migrations (${names.join(', ')}) to ${db.name}; database created.\n`,
      stderr: '',
    });
    expect(await run({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' })).toEqual({
      code: 0,
      stdout: `Database ${db.name} is up to date (${names.length} migrations).\n`,
      stderr: '',
    });
  });

  it('prints one line to stderr and exits 1 when the database is unreachable, without the password', async () => {
    const port = await closedPort();
    const result = await run({ DATABASE_URL: `postgresql://app:S3cret-Pa55@127.0.0.1:${port}/account_sync`, LOG_LEVEL: 'silent' });
    expect(result).toEqual({
      code: 1,
      stdout: '',
      stderr: `account-sync migrate: Cannot connect to database account_sync on 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    });
  });

  it('leaves a missing DATABASE_URL to the dispatcher as a configuration error', async () => {
    await expect(run({ LOG_LEVEL: 'silent' })).rejects.toBeInstanceOf(ConfigError);
  });

  it('summarises in the singular too', () => {
    expect(summarise({ createdDatabase: true, applied: ['20261127000000_init'], alreadyApplied: 0 }, 'account_sync')).toBe(
      'Applied 1 migration (20261127000000_init) to account_sync; database created.',
    );
    expect(summarise({ createdDatabase: false, applied: [], alreadyApplied: 1 }, 'account_sync')).toBe(
      'Database account_sync is up to date (1 migration).',
    );
  });
});

describe('the test database helper', () => {
  it('drops its database even while connections are open', async () => {
    const db = await createTestDatabase('a Label/with*odd chars and a very long tail that will not fit');
    cleanups.push(db.drop);
    expect(db.name).toMatch(/^as_test_a_label_with_odd_chars_and_a_very_long_tail_th_[0-9a-f]{8}$/);
    expect(db.name.length).toBeLessThanOrEqual(63);
    expect(db.url).toBe(withDatabaseName(ADMIN_DATABASE_URL, db.name));
    expect((await migrationRows(db.url)).map((r) => r.migration_name)).toEqual(project.map((m) => m.name));

    const open = new Client({ connectionString: db.url });
    open.on('error', () => undefined); // it is about to be terminated
    await open.connect();
    await db.drop();
    const exists = await query(ADMIN_DATABASE_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
    expect(exists).toEqual([]);
    await open.end().catch(() => undefined);
  });
});

/** `account-sync <args>` in a child process: the built CLI users run. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BUILT_CLI, ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
