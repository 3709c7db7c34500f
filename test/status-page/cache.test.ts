// The status page's cache of costly figures: it answers from what it has, recomputes in the
// background when the mirror's version moves (at most once per interval), and never serves a
// value as current unless it was computed at the version asked for.
import { describe, expect, it } from 'vitest';
import { loadSections, type Env } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { createVersionedCache } from '../../src/status-page/cache.js';

function setup(minIntervalMs = 1_000, maxAgeMs = 60_000) {
  let clock = 0;
  let computed = 0;
  let fail = false;
  const cache = createVersionedCache<number>({
    compute: async () => {
      if (fail) throw new Error('database down');
      return ++computed;
    },
    minIntervalMs,
    maxAgeMs,
    logger: silentLogger(),
    what: 'figures',
    now: () => clock,
  });
  return {
    cache,
    tick: (ms: number) => (clock += ms),
    computations: () => computed,
    failing: (value: boolean) => (fail = value),
  };
}

describe('the figures cache', () => {
  it('waits for the first value only, then serves it while the next one is computed', async () => {
    const t = setup();
    expect(await t.cache.get('v1')).toMatchObject({ value: 1, version: 'v1', current: true });
    expect(await t.cache.get('v1')).toMatchObject({ value: 1, current: true });
    t.tick(1_000);
    // The mirror moved: the old value comes back at once, marked, and a recomputation starts.
    expect(await t.cache.get('v2')).toMatchObject({ value: 1, version: 'v1', current: false });
    await t.cache.idle();
    expect(await t.cache.get('v2')).toMatchObject({ value: 2, version: 'v2', current: true });
    expect(t.computations()).toBe(2);
  });

  it('recomputes at most once per interval however often the version moves', async () => {
    const t = setup(1_000);
    await t.cache.get('v1');
    for (let i = 2; i < 20; i++) {
      t.tick(50);
      await t.cache.get(`v${i}`);
      await t.cache.idle();
    }
    // 18 changes over 900 ms: none recomputed yet (the first value was computed at 0).
    expect(t.computations()).toBe(1);
    t.tick(100);
    await t.cache.get('v20');
    await t.cache.idle();
    expect(await t.cache.get('v20')).toMatchObject({ value: 2, current: true });
  });

  it('keeps the last value when a recomputation fails, and no value is invented when the first one does', async () => {
    const t = setup(0);
    t.failing(true);
    await expect(t.cache.get('v1')).rejects.toThrow('database down');
    t.failing(false);
    expect(await t.cache.get('v1')).toMatchObject({ value: 1, current: true });
    t.failing(true);
    await t.cache.get('v2');
    await t.cache.idle();
    expect(await t.cache.get('v2')).toMatchObject({ value: 1, version: 'v1', current: false });
  });

  it('does not call a value current past its maximum age, even at the same version', async () => {
    const t = setup(0, 5_000);
    await t.cache.get('v1');
    t.tick(5_000);
    expect(await t.cache.get('v1')).toMatchObject({ value: 1, current: false });
    await t.cache.idle();
    expect(await t.cache.get('v1')).toMatchObject({ value: 2, current: true });
  });
});

describe('the status page settings', () => {
  const parseStatusPageConfig = (env: Env) => loadSections(env, ['statusPage']).statusPage;

  it('serve the page and keep Bull Board off unless told', () => {
    expect(parseStatusPageConfig({})).toEqual({ enabled: true, pollMs: 2_000, refreshMs: 10_000, runs: 30, bullBoard: false, public: false });
    expect(parseStatusPageConfig({ STATUS_PAGE_ENABLED: 'false', BULL_BOARD_ENABLED: 'true', STATUS_PAGE_RUNS: '5' })).toMatchObject({
      enabled: false,
      bullBoard: true,
      runs: 5,
    });
    expect(() => parseStatusPageConfig({ BULL_BOARD_ENABLED: 'yes', STATUS_PAGE_POLL_MS: '10' })).toThrow(
      'Invalid configuration: STATUS_PAGE_POLL_MS must be at least 250; BULL_BOARD_ENABLED must be true or false',
    );
  });
});
