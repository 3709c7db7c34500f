// Retries a transaction that PostgreSQL aborted to break a deadlock or a serialization
// conflict: the transaction did nothing, and running it again is the documented remedy.
const TRANSIENT_SQLSTATES = new Set(['40P01', '40001']);

/** The SQLSTATE behind an error, however deep Prisma's adapter wrapped it. */
export function sqlStateOf(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  while (queue.length > 0) {
    const current = queue.shift();
    if (!current || typeof current !== 'object' || seen.has(current)) continue;
    seen.add(current);
    const record = current as Record<string, unknown>;
    // Prisma's own codes (P2010 ...) look like SQLSTATEs; the database's sits deeper.
    const isPrismaError = typeof record.name === 'string' && record.name.startsWith('PrismaClient');
    for (const key of isPrismaError ? [] : ['originalCode', 'code', 'sqlState']) {
      const value = record[key];
      if (typeof value === 'string' && /^[0-9A-Z]{5}$/.test(value)) return value;
    }
    queue.push(record.cause, record.meta, record.driverAdapterError);
  }
  return undefined;
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
