// A run's options have one type (RunOptions) and one set of defaults: the settings' declared
// ones. Whoever starts a run without giving an option gets what an unset variable would give.
import { describe, expect, it } from 'vitest';
import { loadCommandConfig, RUN_DEFAULTS, runOptionsOf, withRunDefaults } from '../../src/config/index.js';
import { VALID_SETTINGS as valid } from '../support/settings.js';

describe("a run's options", () => {
  it('default to what the settings give when their variables are unset', () => {
    const { fullIntervalMs: _full, resumeWithinMs: _resume, ...fromSettings } = runOptionsOf(loadCommandConfig('sync', valid));
    expect(RUN_DEFAULTS).toEqual(fromSettings);
    expect(RUN_DEFAULTS).toEqual({
      pageSize: 1000,
      pageOverlap: 10,
      maxHealRequests: 1000,
      concurrency: 4,
      maxPages: 100_000,
      maxDeletionChecks: 1000,
      incrementalLagMs: 60_000,
      skipUnchangedPages: true,
      bulkLoad: true,
      deferIndexesFrom: 200_000,
      extraLimits: { bytes: 16_384, depth: 8 },
    });
  });

  it('take the default for an option left out or given as undefined, and keep every other one', () => {
    const options = withRunDefaults({ pageSize: 50, concurrency: 1, maxPages: 7, pageOverlap: undefined, bulkLoad: false, resumeRunId: 3n });
    expect(options).toEqual({ ...RUN_DEFAULTS, pageSize: 50, concurrency: 1, maxPages: 7, bulkLoad: false, resumeRunId: 3n });
  });
});
