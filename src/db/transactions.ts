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
