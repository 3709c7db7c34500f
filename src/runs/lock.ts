// The lock that guards a sync run: a PostgreSQL session advisory lock on a connection of its
// own. The queue already runs one job at a time, but only the database sees every writer (a
// worker, a `sync` started by hand, a replica cut off from Redis whose job was handed to
// another), and a session lock is released by the server itself when its holder dies, so a
// crashed run never leaves it behind.
import type { Client } from 'pg';
import { AccountSyncError } from '../errors.js';
import { describePgError, openClient, sqlStateOf } from '../db/pg-client.js';

/** pg_advisory_lock key of the sync run ("ASYR"); distinct from the migration lock's. */
export const RUN_LOCK_KEY = 0x41535952;

/** How often the held lock's connection is checked: a lost connection means a lost lock. */
const DEFAULT_HEARTBEAT_MS = 2_000;

export interface RunLock {
  /** Aborted when the lock's connection is lost: the server has dropped the lock, stop writing. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface LockHolder {
  pid: number;
  applicationName: string;
  clientAddress: string | null;
  /** When the holder's session started. */
  since: Date | null;
}

export type LockAttempt = { acquired: true; lock: RunLock } | { acquired: false; holder: LockHolder | null };

export interface AcquireOptions {
  /** Shown in pg_stat_activity, and so to whoever finds the lock taken. */
  applicationName: string;
  /** 0: try once; Infinity: wait until it is free (or `signal` aborts). */
  waitMs: number;
  signal?: AbortSignal;
  heartbeatMs?: number;
}

/** Takes the run lock. Rejects with DB_UNAVAILABLE when the database cannot be reached. */
export async function acquireRunLock(databaseUrl: string, options: AcquireOptions): Promise<LockAttempt> {
  let client: Client;
  try {
    client = await openClient(databaseUrl, options.applicationName);
  } catch (error) {
    throw new AccountSyncError('DB_UNAVAILABLE', `cannot take the run lock: ${describePgError(error)}`, { cause: error });
  }
  const onAbort = () => void client.end().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const acquired = await tryLock(client, options.waitMs);
    if (!acquired) {
      const holder = await lockHolder(client).catch(() => null);
      await client.end().catch(() => undefined);
      return { acquired: false, holder };
    }
    return { acquired: true, lock: holdLock(client, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS) };
  } catch (error) {
    await client.end().catch(() => undefined);
    if (options.signal?.aborted) throw options.signal.reason;
    throw new AccountSyncError('DB_UNAVAILABLE', `cannot take the run lock: ${describePgError(error)}`, { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
}

async function tryLock(client: Client, waitMs: number): Promise<boolean> {
  if (waitMs <= 0) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RUN_LOCK_KEY]);
    return rows[0]?.locked === true;
  }
  // A blocking lock is granted the moment the holder lets go; lock_timeout bounds the wait.
  if (Number.isFinite(waitMs)) await client.query(`SET lock_timeout = ${Math.ceil(waitMs)}`);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [RUN_LOCK_KEY]);
    return true;
  } catch (error) {
    if (sqlStateOf(error) === '55P03') return false; // lock_not_available: the wait ran out
    throw error;
  } finally {
    if (Number.isFinite(waitMs)) await client.query('RESET lock_timeout').catch(() => undefined);
  }
}

function holdLock(client: Client, heartbeatMs: number): RunLock {
  const lost = new AbortController();
  let released = false;
  const loseLock = (cause?: unknown) => {
    if (released || lost.signal.aborted) return;
    lost.abort(
      new AccountSyncError('DB_UNAVAILABLE', `lost the run lock: its database connection failed (${describePgError(cause ?? 'closed')})`, {
        cause,
      }),
    );
  };
  client.on('error', loseLock);
  client.on('end', () => loseLock());
  const heartbeat = setInterval(() => {
    client.query('SELECT 1').catch(loseLock);
  }, heartbeatMs);
  heartbeat.unref();
  return {
    lost: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      await client.query('SELECT pg_advisory_unlock($1)', [RUN_LOCK_KEY]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

/** Who holds the run lock in this database, when the server lets us see it. */
async function lockHolder(client: Client): Promise<LockHolder | null> {
  const { rows } = await client.query<{
    pid: number;
    application_name: string;
    client_addr: string | null;
    backend_start: Date | null;
  }>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.backend_start
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
     LIMIT 1`,
    [RUN_LOCK_KEY],
  );
  const row = rows[0];
  if (!row) return null;
  return { pid: row.pid, applicationName: row.application_name, clientAddress: row.client_addr, since: row.backend_start };
}

export function describeHolder(holder: LockHolder | null): string {
  if (!holder) return 'another process';
  const who = holder.applicationName ? `"${holder.applicationName}"` : 'a session';
  const where = holder.clientAddress ? ` from ${holder.clientAddress}` : '';
  return `${who} (PostgreSQL backend ${holder.pid}${where}${holder.since ? `, connected ${holder.since.toISOString()}` : ''})`;
}
