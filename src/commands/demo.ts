// `account-sync demo`: the whole story on one machine. Starts the bundled simulator with 10,000
// accounts, migrates, syncs with a live progress display, lets the simulator change some
// accounts, syncs again, shows what the mirror recorded, and then how a change reaches the
// mirror within a fraction of a second through a webhook. Composition root.
import { escapeIdentifier } from 'pg';
import { isInteractive, runOptionsOf } from '../config/index.js';
import { describeDatabaseUrl, withDatabaseName } from '../db/database-url.js';
import { migrate } from '../db/migrate.js';
import { openClient } from '../db/pg-client.js';
import { createPrisma, type PrismaClient } from '../db/prisma.js';
import { EXIT } from '../exit-codes.js';
import { startStandaloneSimulator, type StandaloneSimulator } from '../simulator/standalone.js';
import { createProgressDisplay } from '../sync/progress.js';
import { runSync, type RunSummary } from '../sync/run.js';
import { summaryLine } from '../sync/summary.js';
import { createUpvestClientFromConfig } from '../upvest/index.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';
import { DEMO_WEBHOOK_SPEEDUP, showWebhooks } from './demo-webhooks.js';

const DEMO_DATABASE_URL = 'postgresql://postgres@127.0.0.1:5432/account_sync_demo';

const COMMAND_LINE = {
  name: 'demo',
  usage: [
    'usage: account-sync demo [--accounts N] [--seed S]',
    '',
    '  --accounts N  accounts the simulated tenant starts with (default 10000)',
    '  --seed S      seed of the dataset and of the changes between the syncs (default 7)',
    '',
    `Without DATABASE_URL it uses ${DEMO_DATABASE_URL}, created afresh on every run.`,
  ].join('\n'),
  options: {
    accounts: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '7' },
  },
} as const;

export const demoCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const accounts = Number(parsed.values.accounts);
    const seed = Number(parsed.values.seed);
    if (!Number.isInteger(accounts) || accounts < 1 || !Number.isInteger(seed)) {
      return usageError(COMMAND_LINE, context, '--accounts and --seed take whole numbers (accounts >= 1)');
    }
    const standalone = await startStandaloneSimulator({ accounts, seed, webhookTimeUnitMs: 1000 / DEMO_WEBHOOK_SPEEDUP });
    try {
      return await runDemo(context, standalone, seed);
    } finally {
      await standalone.close();
    }
  },
};

async function runDemo(context: CommandContext, standalone: StandaloneSimulator, seed: number): Promise<number> {
  const out = (line = '') => context.stdout.write(`${line}\n`);
  // The simulator's settings win over the environment's, and so does a receiver of the demo's
  // own on a free local port; the demo's own database and quieter logs stand in for what the
  // environment leaves unset.
  const { config, secrets, logger } = setUp('demo', context, {
    defaults: { DATABASE_URL: DEMO_DATABASE_URL, LOG_LEVEL: 'warn' },
    overrides: { ...standalone.env, WEBHOOK_RECEIVER_HOST: '127.0.0.1', WEBHOOK_RECEIVER_PORT: '0' },
  });
  const { simulator } = standalone;
  // The demo's own database starts afresh each time, so every demo tells the same story.
  if (config.database.url === DEMO_DATABASE_URL) await dropDatabase(config.database.url);
  const prisma = createPrisma(config.database.url, { poolSize: config.sync.concurrency + 2 });
  try {
    out(`Upvest simulator with ${simulator.dataset.count.toLocaleString('en')} accounts at ${simulator.url}`);
    const migrated = await migrate({ databaseUrl: config.database.url, logger });
    out(
      `Database ${new URL(config.database.url).pathname.slice(1)}: ` +
        `${migrated.createdDatabase ? 'created, ' : ''}${migrated.applied.length} migration(s) applied`,
    );
    const client = createUpvestClientFromConfig(config.upvest, { logger, secrets });
    const sync = async (label: string): Promise<RunSummary> => {
      out(`\n${label}`);
      const progress = createProgressDisplay(context.stderr, isInteractive(context.stderr, context.env));
      const summary = await runSync(
        { prisma, client, logger, onProgress: (p) => progress.update(p), redact: secrets.redact },
        runOptionsOf(config),
      );
      progress.done();
      out(summaryLine(summary));
      return summary;
    };

    const first = await sync('First sync: mirroring every account');
    if (first.status !== 'succeeded') return EXIT.failed;

    const changes = simulator.dataset.applyRandomChanges({
      seed,
      statusChanges: 60,
      renames: 25,
      additions: 40,
      removals: 15,
      userChanges: 10,
    });
    out(
      `\nMeanwhile at Upvest: ${changes.statusChanges.length} status changes, ${changes.renames.length} renames, ` +
        `${changes.added.length} new accounts, ${changes.removed.length} removed, ${changes.userChanges.length} changed owners`,
    );
    const second = await sync('Second sync: picking up what changed');
    if (second.status !== 'succeeded') return EXIT.failed;

    await report(prisma, second.runId, out);
    if (!(await showWebhooks({ config, prisma, simulator, logger, secrets, out }))) return EXIT.failed;
    out('\nTry it yourself:');
    out(`  psql '${config.database.url}' -c "SELECT status, count(*) FROM accounts WHERE deleted_at IS NULL GROUP BY status"`);
    out(
      `  psql '${config.database.url}' -c "SELECT a.name, c.from_status, c.to_status, c.changed_at, c.source FROM account_status_changes c JOIN accounts a ON a.id = c.account_id WHERE c.from_status IS NOT NULL ORDER BY c.id DESC LIMIT 10"`,
    );
    return EXIT.ok;
  } finally {
    await prisma.$disconnect();
  }
}

async function dropDatabase(databaseUrl: string): Promise<void> {
  const admin = await openClient(withDatabaseName(databaseUrl, 'postgres'), 'account-sync demo');
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(describeDatabaseUrl(databaseUrl).database)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

async function report(prisma: PrismaClient, runId: bigint, out: (line?: string) => void): Promise<void> {
  const byStatus = await prisma.$queryRaw<Array<{ status: string; accounts: number }>>`
    SELECT status, count(*)::int AS accounts FROM accounts WHERE deleted_at IS NULL GROUP BY status ORDER BY accounts DESC`;
  out('\nLive accounts by status:');
  for (const row of byStatus) out(`  ${row.status.padEnd(18)} ${String(row.accounts).padStart(7)}`);

  const transitions = await prisma.$queryRaw<Array<{ from_status: string; to_status: string; changes: number }>>`
    SELECT from_status, to_status, count(*)::int AS changes FROM account_status_changes
    WHERE sync_run_id = ${runId} AND from_status IS NOT NULL
    GROUP BY from_status, to_status ORDER BY changes DESC, from_status, to_status`;
  out(`\nStatus changes recorded by the second sync (run ${runId}):`);
  for (const row of transitions) out(`  ${`${row.from_status} -> ${row.to_status}`.padEnd(34)} ${row.changes}`);

  const [deleted] = await prisma.$queryRaw<Array<{ deleted: number }>>`
    SELECT count(*)::int AS deleted FROM accounts WHERE deleted_at IS NOT NULL`;
  out(`\nAccounts no longer listed by Upvest (deleted_at set): ${deleted?.deleted ?? 0}`);
}
