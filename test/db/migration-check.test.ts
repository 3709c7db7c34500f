// A sync against a database that lacks migrations this version needs stops before it writes,
// naming them and saying to run `account-sync migrate`, instead of failing on a missing table;
// one against a database a newer release has migrated stops too, naming what it does not know.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertMigrated } from '../../src/db/migration-check.js';
import { defaultMigrationsDir, listMigrations } from '../../src/db/migrate.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { mirrorRowCounts, startHarness, type Harness } from '../support/harness.js';

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

describe('migrations this release does not know', () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const NEWER = ['20991231000000_newer_release', '20991231000100_newest_release'];
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('migration_check_newer', { accounts: 5, seed: 3 });
    expect(await h.sync()).toMatchObject({ status: 'succeeded', inserted: 5 });
  });
  afterAll(() => h?.close());

  /** As a newer release's migrate leaves it: the migration applied and recorded. */
  const applyNewer = (name: string, options: { rolledBack?: boolean } = {}) => h.prisma.$executeRaw`
    INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, rolled_back_at, applied_steps_count)
    VALUES (gen_random_uuid()::text, repeat('0', 64), ${name}, now(), now(), ${options.rolledBack ? new Date() : null}, 1)`;

  it('stop `sync` before it writes anything, naming them, and `status` too', async () => {
    // A rolled-back attempt is no migration applied, and does not count.
    await applyNewer('20991231000200_rolled_back', { rolledBack: true });
    await expect(assertMigrated(h.prisma)).resolves.toBeUndefined();
    for (const name of [...NEWER].reverse()) await applyNewer(name);
    const message =
      `the database has 2 migration(s) that account-sync ${version} does not know (${NEWER.join(', ')}): ` +
      'a newer release has migrated it, and this one writes nothing to a schema it was not built for; run the newer release';
    await expect(assertMigrated(h.prisma)).rejects.toMatchObject({ code: 'DB_UNKNOWN_MIGRATIONS', message });

    const before = await mirrorRowCounts(h.prisma);
    h.simulator.dataset.setStatus(h.simulator.dataset.at(0)!.id, 'LOCKED');
    const result = await runCli(['sync'], { ...h.env });
    expect([result.code, result.stdout, result.stderr.trim().split('\n').at(-1)]).toEqual([1, '', `account-sync: ${message}`]);
    const runs = await h.prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM sync_runs`;
    expect([runs[0]!.n, await mirrorRowCounts(h.prisma)]).toEqual([1, before]);
    const status = await runCli(['status'], { ...h.env });
    expect([status.code, status.stderr.trim().split('\n').at(-1)]).toEqual([1, `account-sync: ${message}`]);
  });
});
