#!/usr/bin/env node
// Generates the Prisma client without downloading anything. `prisma generate` insists on a
// schema-engine binary being present although it never runs it; where none can be downloaded
// (restricted egress), any existing file satisfies the check.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// The Prisma CLI is a devDependency: only generating the client needs it, never running it.
const PRISMA_CLI = fileURLToPath(new URL('../node_modules/prisma/build/index.js', import.meta.url));
if (!existsSync(PRISMA_CLI)) {
  process.stderr.write(
    `account-sync: cannot generate the Prisma client: the prisma package is not installed (${PRISMA_CLI} is missing).\n` +
      'It is a devDependency, needed to build but not to run: install with them (`npm ci`, not `npm ci --omit=dev`),\n' +
      'build (`npm run build`), then drop them if you like (`npm prune --omit=dev --omit=optional`), as the Dockerfile does.\n',
  );
  process.exit(1);
}

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
const result = spawnSync(process.execPath, [PRISMA_CLI, 'generate'], {
  env,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
