// docker-compose.yml, rehearsed with the production tree (compose.ts says how): valid as Compose
// reads it, every application service up and healthy with its own command and environment, and
// a renamed setting, flag or command failing the rehearsal.
import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma } from '../../src/db/prisma.js';
import { freePort, startRedisServer } from '../support/daemon.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { composeConfig, declaredSettingsOf, planServices, unreadSettings, type ComposeFile, type ServicePlan, type Surroundings } from './compose.js';
import { rehearse, volumesDir } from './rehearsal.js';
import { build } from './support.js';

const { tree, image, context } = build();
const log = (line: string) => process.stderr.write(`[compose] ${line}\n`);

let db: TestDatabase;
let redis: Awaited<ReturnType<typeof startRedisServer>>;
let volumes: Awaited<ReturnType<typeof volumesDir>>;
let declared: Record<string, string[]>;

beforeAll(async () => {
  db = await createTestDatabase('shipped_compose', { migrate: false });
  redis = await startRedisServer();
  volumes = await volumesDir();
  declared = await declaredSettingsOf(tree);
});
afterAll(async () => {
  await redis?.stop();
  await volumes?.cleanup();
  await db?.drop();
});

async function surroundings(): Promise<Surroundings> {
  const freePorts: number[] = [];
  for (let i = 0; i < 8; i++) freePorts.push(await freePort());
  return { databaseUrl: db.url, redisUrl: redis.url, freePorts, volumesDir: join(volumes.dir, randomBytes(4).toString('hex')) };
}

/** The compose file with `edit` applied to its text, read by docker-compose from beside the original. */
async function edited(edit: (text: string) => string): Promise<ComposeFile> {
  const original = await readFile(join(context, 'docker-compose.yml'), 'utf8');
  const changed = edit(original);
  expect(changed).not.toBe(original);
  const name = `docker-compose.edited-${randomBytes(4).toString('hex')}.yml`;
  await writeFile(join(context, name), changed);
  try {
    return await composeConfig(context, name);
  } finally {
    await rm(join(context, name), { force: true });
  }
}

const plan = async (compose: ComposeFile) => planServices(compose, image, await surroundings());

describe('docker-compose.yml', () => {
  let compose: ComposeFile;
  let plans: ServicePlan[];
  beforeAll(async () => {
    compose = await composeConfig(context);
    plans = await plan(compose);
  });

  it('is valid for docker-compose, and its application services are the image with their own commands', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['grafana', 'migrate', 'postgres', 'prometheus', 'receiver', 'redis', 'simulator', 'subscribe', 'worker']);
    expect(Object.fromEntries(plans.map((p) => [p.name, p.commands]))).toEqual({
      migrate: ['migrate'],
      receiver: ['receiver'],
      simulator: ['simulator'],
      subscribe: ['webhooks'],
      worker: ['worker'],
    });
  });

  it('sets only settings that the commands its services run read', () => {
    expect(unreadSettings(plans, declared)).toEqual([]);
    // What the check reads: every variable set, in the environment or exported by an entrypoint.
    expect(Object.fromEntries(plans.map((p) => [p.name, [...p.sets].sort()]))).toEqual({
      migrate: ['DATABASE_URL'],
      receiver: ['DATABASE_URL', 'UPVEST_ALLOW_INSECURE_HTTP', 'UPVEST_BASE_URL', 'WEBHOOK_RECEIVER_HEALTH_HOST', 'WEBHOOK_RECEIVER_HEALTH_PORT', 'WEBHOOK_RECEIVER_PORT'],
      simulator: [],
      subscribe: ['UPVEST_ALLOW_INSECURE_HTTP', 'UPVEST_BASE_URL'],
      worker: ['DATABASE_URL', 'HEALTH_PORT', 'REDIS_URL', 'STATUS_PAGE_PUBLIC', 'SYNC_INTERVAL_MS', 'UPVEST_ALLOW_INSECURE_HTTP', 'UPVEST_BASE_URL'],
    });
  });

  it('brings every application service up from the production tree: healthy, or done with exit 0; each stops cleanly', async () => {
    const report = await rehearse(plans, tree, log);
    // Each after what it depends on, as its depends_on says.
    const at = (name: string) => report.started.indexOf(name);
    expect([...report.started].sort()).toEqual(['migrate', 'receiver', 'simulator', 'subscribe', 'worker']);
    const order: Array<[string, string]> = [
      ['worker', 'migrate'],
      ['worker', 'simulator'],
      ['receiver', 'migrate'],
      ['receiver', 'simulator'],
      ['subscribe', 'receiver'],
    ];
    for (const [service, after] of order) {
      expect([service, after, at(service) > at(after)]).toEqual([service, after, true]);
    }
    expect([...report.healthy].sort()).toEqual(['receiver', 'simulator', 'worker']);
    expect([...report.completed].sort()).toEqual(['migrate', 'subscribe']);
    expect(report.stopped).toEqual(report.started.filter((name) => report.healthy.includes(name)).reverse());
    // migrate migrated the rehearsal's database, where DATABASE_URL pointed.
    const prisma = createPrisma(db.url, { poolSize: 1 });
    try {
      const [row] = await prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL`;
      expect(row!.n).toBe((await readdir(join(tree, 'prisma', 'migrations'), { withFileTypes: true })).filter((e) => e.isDirectory()).length);
    } finally {
      await prisma.$disconnect();
    }
  });
});

describe('a compose file that drifted from the program', () => {
  it('fails on a renamed setting, naming it', async () => {
    const renamed = await edited((text) => text.replace('HEALTH_PORT: "9464"', 'HEALTH_PORTS: "9464"'));
    expect(unreadSettings(await plan(renamed), declared)).toEqual(['worker: HEALTH_PORTS is not a setting that `account-sync worker` reads']);
  });

  it('fails on a renamed flag: the simulator refuses it and never gets healthy', async () => {
    const renamed = await edited((text) => text.replace('--changes-every-ms 60000', '--changes-each-ms 60000'));
    await expect(rehearse(await plan(renamed), tree, log)).rejects.toThrow(/^simulator exited with 2 before it was healthy\n.*Unknown option '--changes-each-ms'/s);
  });

  it('fails on a renamed command: migrate is not done, and nothing that waits for it starts', async () => {
    const renamed = await edited((text) => text.replace('command: ["migrate"]', 'command: ["migrations"]'));
    const plans = await plan(renamed);
    expect(unreadSettings(plans, declared)).toEqual(['migrate: account-sync has no command "migrations"']);
    await expect(rehearse(plans, tree, log)).rejects.toThrow(/^migrate exited with 2\n.*unknown command "migrations"/s);
  });
});
