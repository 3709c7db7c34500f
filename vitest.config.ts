import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file gets its own database and queue prefix, so files may run side by side.
    pool: 'forks',
    // Modules stay loaded from one file to the next in a worker: importing the sources again for
    // every file cost more CPU than the tests. Files share no state but what src/ keeps itself.
    isolate: false,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
