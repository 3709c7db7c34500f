import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as cli } from '../support/cli.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('cli_sync', { accounts: 500, seed: 4 });
});
afterAll(() => h?.close());

describe('account-sync sync', () => {
  it('syncs, exits 0 and prints a one-line summary (or JSON with --json)', async () => {
    const human = await cli(['sync'], h.env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^sync run \d+ succeeded in \d+\.\ds: 500 accounts seen \(500 new, 0 updated, 0 unchanged\), 500 status changes, 0 deleted, 0 rejected, 0 retries, walk consistent\n$/,
    );
    const machine = await cli(['sync', '--json'], h.env);
    expect(machine.code).toBe(0);
    expect(JSON.parse(machine.stdout)).toMatchObject({
      status: 'succeeded',
      accounts_seen: 500,
      accounts_unchanged: 500,
      status_changes: 0,
      walk_consistent: true,
      error: null,
    });
  });

  it('fetches and validates every page without a database on --dry-run', async () => {
    const { DATABASE_URL: _unused, ...withoutDatabase } = h.env;
    const before = await h.prisma.syncRun.count();
    const { code, stdout } = await cli(['sync', '--dry-run', '--json'], withoutDatabase);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ dry_run: true, pages: 6, accounts: 500, rejected: 0, retries: 0 });
    expect(await h.prisma.syncRun.count()).toBe(before);
  });

  it('refuses --full with --incremental as a usage error, before reading any setting', async () => {
    const { code, stdout, stderr } = await cli(['sync', '--full', '--incremental'], {});
    expect([code, stdout]).toEqual([2, '']);
    expect(stderr).toMatch(/^account-sync sync: choose --full or --incremental, not both\n\nusage: account-sync sync \[--full \| --incremental\]/);
  });

  it('names every bad setting in one line and exits 78', async () => {
    const { code, stdout, stderr } = await cli(['sync'], {
      ...h.env,
      UPVEST_CLIENT_ID: '',
      SYNC_PAGE_SIZE: 'lots',
      UPVEST_BASE_URL: 'ftp://upvest',
    });
    expect(code).toBe(78);
    expect(stdout).toBe('');
    expect(stderr).toBe(
      'Invalid configuration: UPVEST_BASE_URL must be an http(s) URL; UPVEST_CLIENT_ID is required; SYNC_PAGE_SIZE must be a whole number\n',
    );
  });

  it('names a bad ACCOUNT_SYNC_V8_FLAGS before anything runs, and exits 78', async () => {
    const { code, stdout, stderr } = await cli(['sync'], { ...h.env, ACCOUNT_SYNC_V8_FLAGS: 'small please' });
    expect([code, stdout, stderr]).toEqual([78, '', 'Invalid configuration: ACCOUNT_SYNC_V8_FLAGS must be V8 flags such as --optimize-for-size\n']);
  });

  it('ends with a non-zero exit and one clear reason when the client secret is wrong, without retrying', async () => {
    h.simulator.stats.reset();
    const { code, stdout, stderr } = await cli(['sync'], { ...h.env, UPVEST_CLIENT_SECRET: 'not-the-secret', LOG_LEVEL: 'info' });
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /^sync run \d+ failed in \d+\.\ds: UPVEST_TOKEN_INVALID: Upvest refused the client credentials \(check UPVEST_CLIENT_ID, UPVEST_CLIENT_SECRET, UPVEST_SCOPES and the signing key\): POST \/auth\/token: HTTP 401 /,
    );
    expect(stdout.trim().split('\n')).toHaveLength(1);
    expect(h.simulator.stats.byPath['/auth/token']).toBe(1);
    expect(stderr).not.toContain('not-the-secret');
  });

  it('fails with the problem detail when the signing key is not the registered one', async () => {
    const { code, stdout } = await cli(['sync'], { ...h.env, UPVEST_SIGNING_KEY_ID: 'some-other-key' });
    expect(code).toBe(1);
    expect(stdout).toMatch(/failed in .*: UPVEST_TOKEN_INVALID: .*HTTP 401/);
  });
});
