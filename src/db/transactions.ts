// Retries a transaction that PostgreSQL aborted to break a deadlock or a serialization
// conflict: the transaction did nothing, and running it again is the documented remedy.
import { sqlStateOf as pgSqlStateOf } from './pg-client.js';

const TRANSIENT_SQLSTATES = new Set(['40P01', '40001']);

/**
 * The SQLSTATE behind an error from Prisma or node-postgres. Prisma's driver adapter keeps the
 * database's code as `originalCode` under `meta.driverAdapterError.cause`; Prisma's own codes
 * (P2010 ...) look like SQLSTATEs and are not one.
 */
export function sqlStateOf(error: unknown): string | undefined {
  const direct = pgSqlStateOf(error);
  if (direct !== undefined) return direct;
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } } | null)?.meta;
  const code = meta?.driverAdapterError?.cause?.originalCode;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** SQLSTATEs of a lost or refused connection: class 08, and the server shutting down or starting. */
const CONNECTION_SQLSTATE = /^(08...|57P0[1-3])$/;
/** Prisma's codes for a database it cannot reach or that closed the connection. */
const CONNECTION_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024']);
const CONNECTION_ERRNOS = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);
const CONNECTION_MESSAGE = /connection terminated|connection error|server closed the connection|connection is closed|terminating connection|can't reach database server/i;
/** The driver adapter's kinds of error for a database it cannot reach or lost. */
const CONNECTION_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections', 'TransactionAlreadyClosed']);

/**
 * What a failure that came from the database is: DB_UNAVAILABLE when the connection was lost
 * or refused (a restart, a cut network, pg_terminate_backend), DB_ERROR for another error the
 * database reported; undefined when it did not come from the database.
 */
export function databaseErrorCodeOf(error: unknown): 'DB_UNAVAILABLE' | 'DB_ERROR' | undefined {
  const state = sqlStateOf(error);
  if (state !== undefined) return CONNECTION_SQLSTATE.test(state) ? 'DB_UNAVAILABLE' : 'DB_ERROR';
  const kind = (error as { meta?: { driverAdapterError?: { cause?: { kind?: unknown } } } } | null)?.meta?.driverAdapterError?.cause?.kind;
  if (typeof kind === 'string' && CONNECTION_ADAPTER_KINDS.has(kind)) return 'DB_UNAVAILABLE';
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_PRISMA_CODES.has(code) || CONNECTION_ERRNOS.has(code))) return 'DB_UNAVAILABLE';
    if (CONNECTION_MESSAGE.test(e.message)) return 'DB_UNAVAILABLE';
  }
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^P\d{4}$/.test(code) ? 'DB_ERROR' : undefined;
}

/** The database's own message behind an error from Prisma or node-postgres, without Prisma's preamble. */
export function databaseMessageOf(error: unknown): string {
  const meta = (error as { meta?: { driverAdapterError?: { cause?: { originalMessage?: unknown } } } } | null)?.meta;
  const original = meta?.driverAdapterError?.cause?.originalMessage;
  if (typeof original === 'string') return original;
  return error instanceof Error ? error.message : String(error);
}

export async function withTransactionRetry<T>(run: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      const state = sqlStateOf(error);
      if (attempt >= attempts || state === undefined || !TRANSIENT_SQLSTATES.has(state)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * Math.random()));
    }
  }
}
