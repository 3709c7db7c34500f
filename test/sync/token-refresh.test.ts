// The access token is renewed UPVEST_TOKEN_REFRESH_MARGIN_SECONDS before its expires_in runs
// out, in the middle of a run, without waiting for a 401. The simulator and the client share a
// clock the test moves, so "later" needs no waiting.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCommandConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { runSync } from '../../src/sync/run.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let clock = Date.now();

beforeAll(async () => {
  h = await startHarness('token_refresh', { accounts: 1000, seed: 17, now: () => clock, tokenTtlSeconds: 100 });
});
afterAll(() => h?.close());

async function syncWithMargin(marginSeconds: string, advanceAfterPage: number, bySeconds: number) {
  const config = loadCommandConfig('sync', { ...h.env, UPVEST_TOKEN_REFRESH_MARGIN_SECONDS: marginSeconds, SYNC_CONCURRENCY: '1' });
  const logger = silentLogger();
  const client = createUpvestClientFromConfig(config.upvest, { logger, now: () => clock });
  h.simulator.stats.reset();
  return runSync(
    {
      prisma: h.prisma,
      client,
      logger,
      onProgress: (p) => {
        if (p.pagesDone === advanceAfterPage) clock += bySeconds * 1000;
      },
    },
    { pageSize: config.sync.pageSize, concurrency: 1, maxPages: config.sync.maxPages, mode: 'full' },
  );
}

describe('the access token', () => {
  it('is fetched again ahead of expires_in, mid-run, so that no request meets a 401', async () => {
    // Tokens live 100 s; with a margin of 30 s a token is used for 70 s. After page 3, 80 s pass:
    // the token is still valid upstream, but within the margin, so the next request renews it.
    const summary = await syncWithMargin('30', 3, 80);
    expect(summary).toMatchObject({ status: 'succeeded', accountsSeen: 1000, retries: 0 });
    expect(h.simulator.stats.tokensIssued).toBe(2);
    expect(h.simulator.stats.byStatus[401]).toBeUndefined();
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('is kept until the margin is reached: the same clock moved less fetches none', async () => {
    const summary = await syncWithMargin('30', 3, 60);
    expect(summary.status).toBe('succeeded');
    expect(h.simulator.stats.tokensIssued).toBe(1);
    expect(h.simulator.stats.byStatus[401]).toBeUndefined();
  });
});
