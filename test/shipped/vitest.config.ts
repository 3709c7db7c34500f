// `npm run test:shipped`: the production tree, built by the image's recipe from a fresh clone
// (global-setup.ts), run as users run it. Not part of `npm test`: it builds (about a minute)
// and runs whole programs; .ci/run runs it after the suite.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['test/shipped/**/*.shipped.ts'],
    globalSetup: ['test/shipped/global-setup.ts'],
    // Each file has its own database, queue prefix, Redis, ports and simulator.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 180_000,
    hookTimeout: 600_000,
  },
});
