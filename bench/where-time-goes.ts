// Where a sync's time goes, sampled while it runs: the sync process's CPU, PostgreSQL's CPU
// (the backends serving the mirror's database, read from /proc: the bench runs beside the
// server), how long writers waited on each other's locks, and the finish (building the
// deferred indexes, adding and validating the foreign keys). Samples about every SAMPLE_MS,
// each standing for the time since the one before: the figures are estimates to that
// resolution, enough to say which part dominates.
import { readFileSync } from 'node:fs';
import type { Client } from 'pg';

const SAMPLE_MS = 50;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

export interface TimeSpent {
  /** CPU seconds of the sync process (user + system). */
  syncCpuS: number;
  /** CPU seconds of the PostgreSQL backends serving the database. */
  postgresCpuS: number;
  /** Backend-seconds spent waiting for a lock (wait_event_type = 'Lock'), summed over backends. */
  lockWaitS: number;
  /** The same by wait_event: transactionid (another's uncommitted row), advisory (the feed's turn), relation... */
  lockWaitByEventS: Record<string, number>;
  /** Wall seconds during which a backend built an index or added or validated a foreign key. */
  finishS: number;
  samples: number;
}

export interface TimeSampler {
  /** Starts following the sync process `pid` too. */
  follow(pid: number): void;
  stop(): Promise<TimeSpent>;
}

/** CPU ticks (user + system) of a process so far, or undefined once it is gone. */
export function cpuTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

const FINISH = /^\s*(CREATE\s+(UNIQUE\s+)?INDEX|ALTER\s+TABLE\s+.*\s(VALIDATE|ADD)\s+CONSTRAINT)/is;

/**
 * Samples `database`'s backends (seen through `monitor`, a connection to any database) until
 * stopped, leaving out the bench's own (`excludePids`).
 */
export function sampleTimeSpent(monitor: Client, database: string, excludePids: number[] = []): TimeSampler {
  const backendTicks = new Map<number, number>();
  let syncPid: number | undefined;
  let syncTicks = 0;
  let lockWaitMs = 0;
  let finishMs = 0;
  let lastSample = performance.now();
  let samples = 0;
  let stopped = false;
  const lockWaitByEventMs: Record<string, number> = {};
  const sampleOnce = async () => {
    const { rows } = await monitor.query<{ pid: number; wait_event_type: string | null; wait_event: string | null; query: string; state: string | null }>(
      `SELECT pid, wait_event_type, wait_event, query, state FROM pg_stat_activity
       WHERE datname = $1 AND pid <> pg_backend_pid() AND pid <> ALL($2::int[]) AND backend_type = 'client backend'`,
      [database, excludePids],
    );
    samples++;
    // Each sample stands for the time since the previous one.
    const now = performance.now();
    const interval = now - lastSample;
    lastSample = now;
    for (const row of rows) {
      const ticks = cpuTicksOf(row.pid);
      if (ticks !== undefined) backendTicks.set(row.pid, Math.max(backendTicks.get(row.pid) ?? 0, ticks));
      if (row.state === 'active' && row.wait_event_type === 'Lock') {
        lockWaitMs += interval;
        const event = row.wait_event ?? 'unknown';
        lockWaitByEventMs[event] = (lockWaitByEventMs[event] ?? 0) + interval;
      }
    }
    if (rows.some((row) => row.state === 'active' && FINISH.test(row.query))) finishMs += interval;
    if (syncPid !== undefined) syncTicks = Math.max(syncTicks, cpuTicksOf(syncPid) ?? 0);
  };
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      await sampleOnce().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, SAMPLE_MS - (performance.now() - started))));
    }
  })();
  return {
    follow(pid) {
      syncPid = pid;
    },
    async stop() {
      stopped = true;
      await loop;
      return {
        syncCpuS: syncTicks / TICKS_PER_SECOND,
        postgresCpuS: [...backendTicks.values()].reduce((sum, t) => sum + t, 0) / TICKS_PER_SECOND,
        lockWaitS: lockWaitMs / 1000,
        lockWaitByEventS: Object.fromEntries(Object.entries(lockWaitByEventMs).map(([event, ms]) => [event, ms / 1000])),
        finishS: finishMs / 1000,
        samples,
      };
    },
  };
}
