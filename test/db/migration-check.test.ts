// A sync against a database that lacks migrations this version needs stops before it writes,
// naming them and saying to run `account-sync migrate`, instead of failing on a missing table.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertMigrated } from '../../src/db/migration-check.js';
import { defaultMigrationsDir, listMigrations } from '../../src/db/migrate.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('the migrations a run needs', () => {
  let names: string[];
  let h: Harness;
  let bare: TestDatabase;
  let barePrisma: PrismaClient;
  beforeAll(async () => {
    names = (await listMigrations(defaultMigrationsDir())).map((m) => m.name);
    h = await startHarness('migration_check', { accounts: 5, seed: 3 });
    bare = await createTestDatabase('migration_check_bare', { migrate: false });
    barePrisma = createPrisma(bare.url, { poolSize: 1 });
  });
  afterAll(async () => {
    await barePrisma?.$disconnect();
    await bare?.drop();
    await h?.close();
  });

  it('are all there after migrate', async () => {
    await expect(assertMigrated(h.prisma)).resolves.toBeUndefined();
  });

  it('are all missing from a database never migrated', async () => {
    await expect(assertMigrated(barePrisma)).rejects.toMatchObject({
      code: 'DB_NOT_MIGRATED',
      message: `the database lacks ${names.length} migration(s) this version needs (${names.join(', ')}): run \`account-sync migrate\` first`,
    });
  });

  it('stop `sync` before it writes, and `status`, when the newest is missing, naming it', async () => {
    const newest = names.at(-1)!;
    await h.prisma.$executeRaw`DELETE FROM _prisma_migrations WHERE migration_name = ${newest}`;
    const result = await runCli(['sync'], { ...h.env });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n').at(-1)).toBe(
      `account-sync: the database lacks 1 migration(s) this version needs (${newest}): run \`account-sync migrate\` first`,
    );
    const status = await runCli(['status'], { ...h.env });
    expect([status.code, status.stderr.trim().split('\n').at(-1)]).toEqual([
      1,
      `account-sync: the database lacks 1 migration(s) this version needs (${newest}): run \`account-sync migrate\` first`,
    ]);
    const [runs] = await h.prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM sync_runs`;
    expect(runs!.n).toBe(0);
  });
});
