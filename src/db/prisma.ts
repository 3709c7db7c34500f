// Builds the Prisma client the rest of the code is handed. Prisma 7's Rust-free client talks to
// PostgreSQL through node-postgres (@prisma/adapter-pg): no engine binary at run time.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };
export { Prisma } from '../generated/prisma/client.js';

export interface PrismaOptions {
  /** Connections in the pool; page writers run in parallel, so this bounds write concurrency. */
  poolSize?: number;
  applicationName?: string;
}

export function createPrisma(databaseUrl: string, options: PrismaOptions = {}): PrismaClient {
  const adapter = new PrismaPg({
    connectionString: databaseUrl,
    max: options.poolSize ?? 10,
    application_name: options.applicationName ?? 'account-sync',
    connectionTimeoutMillis: 10_000,
  });
  return new PrismaClient({ adapter });
}
