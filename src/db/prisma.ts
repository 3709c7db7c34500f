// Builds the Prisma client the rest of the code is handed. Prisma 7's Rust-free client talks to
// PostgreSQL through node-postgres (@prisma/adapter-pg): no engine binary at run time.
import { createHash } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';
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
  const adapter = new PrismaPg(
    {
      connectionString: pgConnectionString(databaseUrl),
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? 'account-sync',
      connectionTimeoutMillis: 10_000,
    },
    // The queries Prisma builds itself name their schema; raw SQL goes by the search_path.
    { statementNameGenerator: preparedStatementName, ...(explicit ? { schema } : {}) },
  );
  return new PrismaClient({ adapter });
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
