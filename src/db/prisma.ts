// Builds the Prisma client the rest of the code is handed. Prisma 7's Rust-free client talks to
// PostgreSQL through node-postgres (@prisma/adapter-pg): no engine binary at run time.
import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { pgConnectionString, prismaSchemaOf } from './database-url.js';

import type { Prisma as PrismaNamespace } from '../generated/prisma/client.js';

export type { PrismaClient };
export { Prisma } from '../generated/prisma/client.js';

/** What a statement runs on: the client, or the client of a transaction. */
export type Db = PrismaClient | PrismaNamespace.TransactionClient;

export interface PrismaOptions {
  /** Connections in the pool; page writers run in parallel, so this bounds write concurrency. */
  poolSize?: number;
  applicationName?: string;
}

/** A client whose every connection works in the URL's `?schema=` (see pgConnectionString). */
export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const { schema, explicit } = prismaSchemaOf(databaseUrl);
  const pool = new pg.Pool({
    connectionString: pgConnectionString(databaseUrl),
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'account-sync',
    connectionTimeoutMillis: 10_000,
  });
  const adapter = new PrismaPg(pool, {
    statementNameGenerator: preparedStatementName,
    // $disconnect ends the pool, as it would one the adapter had made.
    disposeExternalPool: true,
    // The queries Prisma builds itself name their schema; raw SQL goes by the search_path.
    ...(explicit ? { schema } : {}),
  });
  const prisma = new PrismaClient({ adapter });
  pools.set(prisma, pool);
  return prisma;
}

const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * The node-postgres pool a client made by createPrisma runs on, for the one thing Prisma cannot
 * do: COPY (see sync/bulk-load.ts). Its connections are the client's, so they count against the
 * same pool size and work in the same schema.
 */
export function pgPoolOf(prisma: PrismaClient): pg.Pool | undefined {
  return pools.get(prisma);
}

/**
 * What a raw statement runs on: Prisma's client or transaction, or a node-postgres connection
 * (see pgStatements). Statements written for both cast every parameter that is not text.
 */
export interface RawStatements {
  $executeRaw(query: TemplateStringsArray | PrismaNamespace.Sql, ...values: unknown[]): PromiseLike<number>;
}

/** Runs Prisma's tagged-template statements on a node-postgres connection (see RawStatements). */
export function pgStatements(client: pg.ClientBase): RawStatements {
  return {
    async $executeRaw(query, ...values) {
      const sql = query instanceof Prisma.Sql ? query : Prisma.sql(query, ...values);
      const result = await client.query(sql.text, sql.values as unknown[]);
      return result.rowCount ?? 0;
    },
  };
}

const statementNames = new Map<string, string>();

/**
 * Names each distinct statement so that node-postgres prepares it once per connection: the
 * page writes are large CTEs, and planning them for every page costs more than running them.
 * PostgreSQL may then keep a generic plan; the page writes are written so that theirs cannot
 * depend on the tables' size (see the note on lookups in sync/store.ts).
 */
function preparedStatementName(query: { sql: string; argTypes: ReadonlyArray<unknown> }): string {
  const key = `${query.sql}\u0000${JSON.stringify(query.argTypes)}`;
  let name = statementNames.get(key);
  if (name === undefined) {
    name = `as_${createHash('sha1').update(key).digest('hex').slice(0, 24)}`;
    if (statementNames.size < 10_000) statementNames.set(key, name);
  }
  return name;
}
