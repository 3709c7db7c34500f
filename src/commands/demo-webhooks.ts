// The demo's last act: a change at Upvest reaches the mirror within a fraction of a second,
// through a webhook. Starts a receiver and its applier in this process, subscribes it to the
// simulator's account events as `webhooks register` would, then makes a few changes one at a
// time and prints how long each took from the change at the simulated Upvest to the commit of
// the mirror's row, and the status change it recorded (source webhook).
import type { Config } from '../config/index.js';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import type { Simulator, SimAccount } from '../simulator/index.js';
import { startApplier } from '../webhooks/applier.js';
import { createWebhooksApiFromConfig, ourSubscriptionsFromConfig, startReceiverFromConfig } from '../webhooks/index.js';
import { subscribe, SUBSCRIPTION_DEFAULTS } from '../webhooks/subscribe.js';

/** The simulator's webhook clock runs this many times fast in the demo (delays and retry waits). */
export const DEMO_WEBHOOK_SPEEDUP = 10;
/** A change not in the mirror after this long fails the demo. */
const ARRIVAL_TIMEOUT_MS = 10_000;

export interface DemoWebhooksDeps {
  config: Pick<Config, 'database' | 'upvest' | 'webhooks'>;
  prisma: PrismaClient;
  simulator: Simulator;
  logger: Logger;
  secrets: { addToken(token: string): void; redact(text: string): string };
  out: (line?: string) => void;
}

interface Change {
  account: SimAccount;
  /** What the line says was done. */
  what: string;
  /** The status the account moved to, when it was a status change. */
  toStatus?: string;
}

/** Returns whether every change reached the mirror in time. */
export async function showWebhooks(deps: DemoWebhooksDeps): Promise<boolean> {
  const { config, prisma, simulator, out } = deps;
  const arrivals = watchArrivals(prisma);
  const applier = await startApplier({
    subscriptions: ourSubscriptionsFromConfig(config, { logger: deps.logger, secrets: deps.secrets }),
    prisma,
    databaseUrl: config.database.url,
    logger: deps.logger,
    batchSize: config.webhooks.applyBatchSize,
    sweepMs: config.webhooks.applySweepMs,
    now: () => new Date(),
    redact: deps.secrets.redact,
    onApplied: arrivals.committed,
  });
  const { receiver, keys } = await startReceiverFromConfig(config, {
    prisma,
    logger: deps.logger,
    secrets: deps.secrets,
    onOutcome: (outcome) => ((outcome.batch?.stored ?? 0) > 0 ? applier.kick() : undefined),
  });
  try {
    await keys.refresh();
    const admin = createWebhooksApiFromConfig(config.upvest, config.webhooks, { logger: deps.logger, secrets: deps.secrets, scopes: 'webhooks:admin' });
    await subscribe(admin, { ...SUBSCRIPTION_DEFAULTS, types: [...SUBSCRIPTION_DEFAULTS.types], url: receiver.url });
    out(`\nWebhooks: a receiver at ${receiver.url}, subscribed to the simulator's account events (delay ${SUBSCRIPTION_DEFAULTS.delay})`);
    out('Changes at Upvest after the second sync, each made once the one before was in the mirror:');
    for (const plan of changePlans(simulator)) {
      const change = plan.make();
      const committedAt = await arrivals.until(change.account.id, change.account.updated_at, ARRIVAL_TIMEOUT_MS);
      const label = `  ${truncate(plan.account.name, 28).padEnd(28)}  ${change.what.padEnd(26)}`;
      if (committedAt === null) {
        out(`${label}  not in the mirror after ${ARRIVAL_TIMEOUT_MS / 1000} s`);
        return false;
      }
      const took = ((committedAt - Date.parse(change.account.updated_at)) / 1000).toFixed(2);
      out(`${label}  in the mirror after ${took} s${await recorded(prisma, change)}`);
    }
    out(
      [
        '(Measured from the change at the simulated Upvest to the commit in the mirror. Upvest collects a',
        " subscription's events for its delay, at least 1 s, before it sends them; the demo runs the",
        ` simulator's webhook clock ${DEMO_WEBHOOK_SPEEDUP} times fast, so that wait lasts ${1 / DEMO_WEBHOOK_SPEEDUP} s here: against Upvest, add`,
        ` about ${1 - 1 / DEMO_WEBHOOK_SPEEDUP} s. npm run bench measures it with the full second.)`,
      ].join('\n'),
    );
    return true;
  } finally {
    await receiver.close();
    await applier.close();
  }
}

/** A few changes of different kinds, on accounts the dataset has (a small one may lack some statuses). */
function changePlans(simulator: Simulator): Array<{ account: SimAccount; make: () => Change }> {
  const dataset = simulator.dataset;
  const used = new Set<string>();
  const pick = (status: string) => {
    const account = dataset.list().find((a) => a.status === status && !used.has(a.id));
    if (account) used.add(account.id);
    return account;
  };
  const statusChange = (account: SimAccount | undefined, to: string) =>
    account && { account, make: (): Change => ({ account: dataset.setStatus(account.id, to), what: `${account.status} -> ${to}`, toStatus: to }) };
  const renamed = pick('ACTIVE');
  const plans = [
    statusChange(pick('ACTIVE'), 'LOCKED'),
    statusChange(pick('PENDING_APPROVAL'), 'ACTIVE'),
    statusChange(pick('ACTIVE'), 'CLOSING'),
    renamed && { account: renamed, make: (): Change => ({ account: dataset.rename(renamed.id, `${renamed.name} (renamed)`), what: 'renamed' }) },
  ];
  return plans.filter((plan) => plan !== undefined);
}

/** ", status change #N recorded with source webhook" for a status change, as the mirror has it. */
async function recorded(prisma: PrismaClient, change: Change): Promise<string> {
  if (change.toStatus === undefined) return '';
  const [row] = await prisma.$queryRaw<Array<{ id: string; source: string }>>`
    SELECT id::text, source FROM account_status_changes
    WHERE account_id = ${change.account.id}::uuid AND to_status = ${change.toStatus}
    ORDER BY id DESC LIMIT 1`;
  return row ? `, status change #${row.id} recorded with source ${row.source}` : ', but no status change was recorded';
}

/**
 * When accounts reach the mirror: after each commit of the applier, the accounts waited for
 * are looked up, and those at (or past) the version waited for have arrived at that commit.
 */
function watchArrivals(prisma: PrismaClient) {
  const waiters = new Map<string, { updatedAt: string; resolve: (at: number) => void }>();
  const check = async (committedAt: number) => {
    if (waiters.size === 0) return;
    const wanted = [...waiters].map(([id, w]) => ({ id, updated_at: w.updatedAt }));
    const arrived = await prisma.$queryRaw<Array<{ id: string }>>`
      SELECT a.id::text FROM accounts a
      JOIN jsonb_to_recordset(${JSON.stringify(wanted)}::jsonb) AS w(id uuid, updated_at timestamptz) ON w.id = a.id
      WHERE a.updated_at >= w.updated_at`;
    for (const { id } of arrived) {
      waiters.get(id)?.resolve(committedAt);
      waiters.delete(id);
    }
  };
  return {
    committed: () => void check(Date.now()).catch(() => undefined),
    /** When the account reached `updatedAt` in the mirror (ms), or null after `timeoutMs`. Call right after making the change. */
    until(accountId: string, updatedAt: string, timeoutMs: number): Promise<number | null> {
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<number>((resolve) => waiters.set(accountId, { updatedAt, resolve }));
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      return Promise.race([arrived, timeout]).finally(() => {
        clearTimeout(timer);
        waiters.delete(accountId);
      });
    },
  };
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}
