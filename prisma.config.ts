// Used by the Prisma CLI only (generate; migrate deploy/status where the engine is available).
// The application itself reads DATABASE_URL through src/config.ts.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/account_sync' },
});
