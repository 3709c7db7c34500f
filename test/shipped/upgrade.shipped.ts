// Upgrades and rolling deploys, with real releases: the previous one (pinned by its commit,
// previous.ts) builds a mirror with history, this one migrates and syncs it and every row is
// kept; the previous one keeps working on the migrated schema while both run; and this one, met
// by a schema a newer release has migrated, writes nothing, says why, and its worker stays up
// and reports it on /readyz until it is stopped, cleanly.
import { cp, mkdtemp, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/index.js';
import { migrate } from '../../src/db/migrate.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import type { CliProcess } from '../support/cli.js';
import { deleteKeys, httpGet, isMsg, metric, openTestQueue, REDIS_URL, uniquePrefix } from '../support/daemon.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { buildPrevious, PREVIOUS } from './previous.js';
import { build, mirrorById, servedAccounts, shippedRun, shippedSpawn, startShippedSimulator, tableSnapshot, VERSION, type ShippedSimulator } from './support.js';

const { tree, commit, context, work } = build();
const NEWER_MIGRATION = '20991231000000_from_a_newer_release';

let previous: string;
let db: TestDatabase;
let prisma: PrismaClient;
let simulator: ShippedSimulator;
let env: Env;
let worker: CliProcess | undefined;
const log = (line: string) => process.stderr.write(`[upgrade] ${line}\n`);

beforeAll(async () => {
  const dir = await mkdtemp(join(work, 'previous-'));
  previous = await buildPrevious(context, join(dir, 'tree'), log);
  db = await createTestDatabase('shipped_upgrade', { migrate: false });
  prisma = createPrisma(db.url, { poolSize: 2 });
  simulator = await startShippedSimulator(['--accounts', '900', '--seed', '33']);
  env = { ...simulator.env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  worker?.kill('SIGKILL');
  await simulator?.stop();
  await prisma?.$disconnect();
  await db?.drop();
});

const mirrorIsServed = async () => expect(await mirrorById(prisma)).toEqual(await servedAccounts(simulator.env));
const releases = async () =>
  (await prisma.$queryRaw<Array<{ id: number; release: string | null }>>`SELECT id::int, release FROM sync_runs ORDER BY id`).map((r) => r.release);
type Snapshot = Awaited<ReturnType<typeof tableSnapshot>>;
/**
 * A snapshot read as `earlier` saw it: its tables only, each row with the columns it had then
 * (the migrations since add columns with their defaults, and tables).
 */
const asOf = (snapshot: Snapshot, earlier: Snapshot): Snapshot =>
  Object.fromEntries(
    Object.entries(earlier).map(([table, rows]) => {
      const columns = new Set(rows.flatMap((row) => Object.keys(row)));
      const narrowed = (snapshot[table] ?? []).map((row) => Object.fromEntries(Object.entries(row).filter(([column]) => columns.has(column))));
      return [table, narrowed.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1))];
    }),
  );
/** This release's migrations that the previous one did not have, in order. */
const newMigrations = async () =>
  (await readdir(join(tree, 'prisma', 'migrations'), { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && entry.name > PREVIOUS.lastMigration)
    .map((entry) => entry.name)
    .sort();

describe(`an upgrade from ${PREVIOUS.version} (${PREVIOUS.commit.slice(0, 7)})`, () => {
  let before: Awaited<ReturnType<typeof tableSnapshot>>;

  it(`${PREVIOUS.version} migrates, syncs, sees changes and syncs again: a mirror with history`, async () => {
    const version = await shippedRun(['--version'], {}, previous);
    // 0.1.0 had no --version: it says so, which is how an operator could tell it from later ones.
    expect([version.code, version.stderr.split('\n')[0]]).toEqual([2, 'account-sync: unknown command "--version"']);
    expect((await shippedRun(['migrate'], env, previous)).code).toBe(0);
    expect((await shippedRun(['sync'], env, previous)).code).toBe(0);
    await simulator.change();
    expect((await shippedRun(['sync'], env, previous)).code).toBe(0);
    await mirrorIsServed();
    const [history] = await prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM account_status_changes WHERE from_status IS NOT NULL`;
    expect(history!.n).toBeGreaterThan(0);
    before = await tableSnapshot(prisma);
    expect(before.sync_runs!.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
  });

  it(`${VERSION}'s migrate applies the migrations 0.1.0 did not have and keeps every row`, async () => {
    const applied = await newMigrations();
    expect(applied[0]).toBe('20261207000100_run_release');
    const migrated = await shippedRun(['migrate'], env);
    expect([migrated.code, migrated.stdout]).toEqual([0, `Applied ${applied.length} migrations (${applied.join(', ')}) to ${db.name}.\n`]);
    const sorted = (s: Snapshot) => asOf(s, s);
    expect(asOf(await tableSnapshot(prisma), before)).toEqual(sorted(before));
    expect(await releases()).toEqual([null, null]);
  });

  it(`${PREVIOUS.version} still syncs on the migrated schema (both run during a rolling deploy), leaving release empty`, async () => {
    const synced = await shippedRun(['sync'], env, previous);
    expect(synced.code).toBe(0);
    expect(await releases()).toEqual([null, null, null]);
    await mirrorIsServed();
  });

  it(`${VERSION}'s sync after more changes: the mirror exact, the history and the runs before it intact`, async () => {
    const kept = await tableSnapshot(prisma);
    await simulator.change();
    const synced = await shippedRun(['sync', '--json'], env);
    expect([synced.code, JSON.parse(synced.stdout).status]).toEqual([0, 'succeeded']);
    await mirrorIsServed();
    expect(await releases()).toEqual([null, null, null, `${VERSION}+${commit}`]);
    const after = await tableSnapshot(prisma);
    // Runs and status changes are never rewritten: every one from before is there as it was.
    const now = asOf(after, kept);
    for (const table of ['sync_runs', 'account_status_changes']) {
      expect([table, kept[table]!.filter((row) => !now[table]!.some((r) => JSON.stringify(r) === JSON.stringify(row)))]).toEqual([table, []]);
    }
    expect(after.account_status_changes!.length).toBeGreaterThan(kept.account_status_changes!.length);
  });
});

describe('a schema migrated by a newer release', () => {
  let queue: Awaited<ReturnType<typeof openTestQueue>>;
  let prefix: string;
  let base: string;
  const message = () =>
    `the database has 1 migration(s) that account-sync ${VERSION} does not know (${NEWER_MIGRATION}): ` +
    'a newer release has migrated it, and this one writes nothing to a schema it was not built for; run the newer release';

  beforeAll(async () => {
    prefix = uniquePrefix('shipped-upgrade');
    queue = await openTestQueue(prefix);
  });
  afterAll(async () => {
    await deleteKeys(queue.connection, prefix);
    await queue.close();
  });

  it(`finds ${VERSION}'s worker serving and ready`, async () => {
    const firstRun = new Promise<void>((resolve) => queue.events.once('completed', () => resolve()));
    worker = shippedSpawn(['worker'], {
      ...env,
      LOG_LEVEL: 'info',
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      QUEUE_JOB_BACKOFF_MS: '200',
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: '0',
      SYNC_INTERVAL_MS: '3600000',
    });
    await firstRun;
    base = `http://127.0.0.1:${await worker.healthPort()}`;
    expect((await httpGet(`${base}/readyz`)).status).toBe(200);
  });

  it(`then a newer release migrates: ${VERSION}'s sync and status stop before writing, naming the migration`, async () => {
    // As the newer release's migrate leaves it: this release's migrations and one more, applied.
    const folder = join(work, `newer-migrations-${prefix}`);
    await cp(join(tree, 'prisma', 'migrations'), folder, { recursive: true });
    await mkdir(join(folder, NEWER_MIGRATION));
    await writeFile(join(folder, NEWER_MIGRATION, 'migration.sql'), 'ALTER TABLE "accounts" ADD COLUMN "newer_release_note" TEXT;\n');
    expect((await migrate({ databaseUrl: db.url, logger: silentLogger(), migrationsDir: folder })).applied).toEqual([NEWER_MIGRATION]);

    const untouched = await tableSnapshot(prisma);
    await simulator.change();
    const synced = await shippedRun(['sync'], env);
    expect([synced.code, synced.stdout, synced.stderr.trim().split('\n').at(-1)]).toEqual([1, '', `account-sync: ${message()}`]);
    const status = await shippedRun(['status'], env);
    expect([status.code, status.stderr.trim().split('\n').at(-1)]).toEqual([1, `account-sync: ${message()}`]);
    expect(await tableSnapshot(prisma)).toEqual(untouched);
  });

  it(`${VERSION}'s worker: its job fails with that error, it stays up, /readyz says why it is not ready, and it stops cleanly`, async () => {
    const runs = (await tableSnapshot(prisma)).sync_runs;
    const triggered = await shippedRun(['trigger'], { ...env, REDIS_URL, QUEUE_PREFIX: prefix });
    expect(triggered.code).toBe(0);
    const failed = await worker!.waitForLog(isMsg('sync job failed, the queue retries it'), 'the job to fail');
    expect(failed).toMatchObject({ code: 'DB_UNKNOWN_MIGRATIONS', msg: `sync job failed, the queue retries it: DB_UNKNOWN_MIGRATIONS: ${message()}` });

    const ready = await httpGet(`${base}/readyz`);
    expect([ready.status, JSON.parse(ready.body)]).toEqual([
      503,
      { status: 'not ready', ready: false, checks: { redis: { up: true }, database: { up: true }, schema: { up: false } } },
    ]);
    expect(await worker!.waitForLog(isMsg('schema does not match this release'), 'the reason in the log')).toMatchObject({
      msg: `schema does not match this release: ${message()}`,
    });
    expect(await httpGet(`${base}/healthz`)).toEqual({ status: 200, body: '{"status":"alive"}\n' });
    const metrics = (await httpGet(`${base}/metrics`)).body;
    expect(metric(metrics, 'account_sync_dependency_up{dependency="schema"}')).toBe(0);
    expect(metric(metrics, `account_sync_build_info{version="${VERSION}",commit="${commit}"}`)).toBe(1);
    expect(worker!.child.exitCode).toBeNull();
    expect((await tableSnapshot(prisma)).sync_runs).toEqual(runs);

    worker!.kill('SIGTERM');
    expect(await worker!.exited).toEqual({ code: 0, signal: null });
    worker = undefined;
  });
});
