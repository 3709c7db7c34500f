// What the schedule does to a run in progress: SIGKILL its process while a page's transaction
// has written rows or while no transaction is open, cut its database connections (one page
// transaction's, or all of them, the run lock's included), restart PostgreSQL, restart Redis
// with or without its data, or make Upvest fail every request for a few seconds.
import type { Client } from 'pg';
import { openClient } from '../src/db/pg-client.js';
import type { Simulator } from '../src/simulator/index.js';
import type { Cluster } from './cluster.js';
import type { Figures } from './figures.js';
import type { Proc, Processes, RunEvent } from './processes.js';
import type { SoakRedis } from './redis.js';
import type { Prng } from '../src/simulator/hash.js';
import { setUpstreamFaults, upstreamOutage } from './upstream-faults.js';

export type Disruption =
  | 'none'
  | 'kill in a page transaction'
  | 'kill between pages'
  | 'terminate a page transaction'
  | 'terminate every connection'
  | 'restart PostgreSQL'
  | 'restart Redis keeping data'
  | 'restart Redis losing data'
  | 'upstream outage';

export interface Stage {
  cluster: Cluster;
  redis: SoakRedis;
  simulator: Simulator;
  processes: Processes;
  figures: Figures;
  prng: Prng;
  databaseUrl: string;
  log?: NodeJS.WritableStream;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withDb<T>(url: string, work: (db: Client) => Promise<T>): Promise<T | undefined> {
  let db: Client;
  try {
    db = await openClient(url, 'account-sync soak chaos');
  } catch {
    return undefined;
  }
  db.on('error', () => undefined);
  try {
    return await work(db);
  } catch {
    return undefined;
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** Set when the episode's run has ended: a disruption still waiting for its moment gives up. */
export interface Over {
  done: boolean;
}

/** The run `target` opened at or after `since`, once it has committed at least `pages` pages. */
async function runUnderWay(stage: Stage, target: Proc, since: number, pages: number, over: Over): Promise<RunEvent | undefined> {
  while (!over.done && target.alive()) {
    const open = stage.processes.openAttempt(target);
    if (open && open.at >= since - 1000) {
      const committed = await withDb(stage.databaseUrl, async (db) => {
        const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sync_run_pages WHERE sync_run_id = $1', [open.runId]);
        return rows[0]!.n;
      });
      if ((committed ?? 0) >= pages) return open;
    }
    await sleep(20);
  }
  return undefined;
}

/** Polls pg_stat_activity until `match` finds a backend of the sync's pools; its pid. */
async function backendWhere(stage: Stage, condition: string, over: Over): Promise<number | undefined> {
  return withDb(stage.databaseUrl, async (db) => {
    while (!over.done) {
      const { rows } = await db.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'account-sync' AND ${condition} LIMIT 1`,
      );
      if (rows[0]) return rows[0].pid;
      await sleep(3);
    }
    return undefined;
  });
}

/**
 * Between a killed attempt and the one that resumes it: accounts removed among the first few
 * hundred, which the killed attempt has read, so that every account it had not read moves down
 * and the resumed walk's next page begins past accounts nobody listed (issue 21), unless it
 * goes back for them.
 */
function removeAhead(stage: Stage): void {
  const dataset = stage.simulator.dataset;
  const count = 5 + stage.prng.int(26);
  for (let i = 0; i < count && dataset.count > 0; i++) {
    const account = dataset.at(stage.prng.int(Math.min(300, dataset.count)));
    if (account) dataset.remove(account.id);
  }
  stage.figures.removedAhead += count;
}

/**
 * Applies `disruption` to the run `target` works on (started at or after `since`); returns
 * whether it struck. A run that ends before the moment comes is left alone.
 */
export async function disrupt(stage: Stage, disruption: Disruption, target: Proc, since: number, over: Over): Promise<boolean> {
  if (disruption === 'none') return false;
  const pages = 1 + stage.prng.int(6);
  const run = await runUnderWay(stage, target, since, pages, over);
  if (!run) return false;
  const f = stage.figures;
  stage.log?.write(`===== ${disruption} on run ${run.runId} of p${target.id}, ${new Date().toISOString()}\n`);
  switch (disruption) {
    case 'kill in a page transaction': {
      // A transaction that has written rows (it has an xid) and not yet committed.
      const pid = await backendWhere(stage, 'backend_xid IS NOT NULL', over);
      if (pid === undefined || !target.alive()) return false;
      target.kill('SIGKILL', disruption);
      f.count(f.kills, `${target.kind} in a page transaction`);
      removeAhead(stage);
      return true;
    }
    case 'kill between pages': {
      // No transaction open on any of the sync's connections: pages are being fetched.
      const quiet = await withDb(stage.databaseUrl, async (db) => {
        while (!over.done) {
          const { rows } = await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = 'account-sync' AND xact_start IS NOT NULL`,
          );
          if (rows[0]!.n === 0) return true;
          await sleep(3);
        }
        return false;
      });
      if (!quiet || !target.alive()) return false;
      target.kill('SIGKILL', disruption);
      f.count(f.kills, `${target.kind} between pages`);
      removeAhead(stage);
      return true;
    }
    case 'terminate a page transaction': {
      const pid = await backendWhere(stage, 'backend_xid IS NOT NULL', over);
      if (pid === undefined) return false;
      await withDb(stage.databaseUrl, (db) => db.query('SELECT pg_terminate_backend($1)', [pid]));
      return true;
    }
    case 'terminate every connection':
      await withDb(stage.databaseUrl, (db) =>
        db.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND application_name LIKE 'account-sync%' AND application_name NOT LIKE 'account-sync soak%'`,
        ),
      );
      return true;
    case 'restart PostgreSQL':
      await stage.cluster.restart(stage.prng.next() < 0.5 ? 'fast' : 'immediate');
      f.count(f.restarts, 'PostgreSQL during a run');
      return true;
    case 'restart Redis keeping data':
    case 'restart Redis losing data':
      await stage.redis.restart(disruption === 'restart Redis keeping data');
      f.count(f.restarts, `Redis during a run, ${disruption === 'restart Redis keeping data' ? 'keeping' : 'losing'} its data`);
      return true;
    case 'upstream outage':
      upstreamOutage(stage.simulator, stage.prng);
      await sleep(2_000 + stage.prng.int(5_000));
      setUpstreamFaults(stage.simulator, stage.prng);
      return true;
  }
}
