// What a server can make the client do is bounded: every violation fails the run with one
// error naming the bound, and the process stays alive and small. Through `account-sync sync`
// against the simulator over real HTTP.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/index.js';
import { walkNewestFirst } from '../../src/sync/walk.js';
import type { AccountsPage, UpvestClient } from '../../src/upvest/client.js';
import { runCli, spawnCli } from '../support/cli.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('hostile_server', { accounts: 450, seed: 5 });
});
afterAll(() => h?.close());
afterEach(() => h.simulator.faults.clear());

interface Failed {
  status: string;
  error_code: string;
  error: string;
}

async function failedSync(env: Env = {}): Promise<Failed> {
  const run = await runCli(['sync', '--json'], { ...h.env, ...env });
  expect(run.code, run.stderr.slice(-2000)).toBe(1);
  return JSON.parse(run.stdout) as Failed;
}

const MiB = 1024 * 1024;

describe('bounds on what the server can make the client do', () => {
  it('stops reading a body past UPVEST_MAX_RESPONSE_BYTES counted after decompression, and stays small', async () => {
    h.simulator.faults.enqueue('/accounts', { kind: 'gzipBomb', bytes: 400 * MiB });
    const cli = spawnCli(['sync', '--json'], h.env);
    let peak = 0;
    const sample = setInterval(() => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${cli.child.pid}/status`, 'utf8'));
        if (match) peak = Math.max(peak, Number(match[1]) * 1024);
      } catch {
        // exited
      }
    }, 10);
    const { code } = await cli.exited;
    await cli.closed;
    clearInterval(sample);
    expect(code).toBe(1);
    const summary = JSON.parse(cli.stdout()) as Failed;
    expect(summary).toMatchObject({ status: 'failed', error_code: 'UPVEST_RESPONSE_TOO_LARGE' });
    expect(summary.error).toMatch(
      /^GET \/accounts: the answer body is larger, more than UPVEST_MAX_RESPONSE_BYTES \(16777216 bytes\)$/,
    );
    // The 400 MiB it unpacks to never were in memory.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(300 * MiB);
    // Not retried: the same server would send the same again.
    expect(h.simulator.stats.faultsInjected).toBe(1);
  });

  it('refuses a page holding more items than its limit', async () => {
    h.simulator.faults.enqueue('/accounts', { kind: 'oversize', items: 150 });
    const summary = await failedSync({ SYNC_PAGE_SIZE: '100' });
    expect(summary.error_code).toBe('UPVEST_PAGE_TOO_LARGE');
    // The first request of a full run is the one-account look at the newest update.
    expect(summary.error).toBe('GET /accounts offset=0: the page holds 150 items, more than its limit of 1');
  });

  it('fails at once when total_count needs more pages than SYNC_MAX_PAGES', async () => {
    h.simulator.faults.setEndless({ totalCount: 2_000_000_000 });
    const summary = await failedSync();
    expect(summary).toMatchObject({
      error_code: 'SYNC_PAGE_LIMIT_EXCEEDED',
      error: 'total_count 2000000000 needs 22222223 pages of 100, more than SYNC_MAX_PAGES (100000)',
    });
  });

  it('stops a walk whose pages never end within what the first total_count allows', async () => {
    // Every page full, and total_count 100 higher at every request: a walk advancing 99
    // accounts a page never reaches the end.
    h.simulator.faults.setEndless({ growBy: 100 });
    const summary = await failedSync({ SYNC_CONCURRENCY: '1' });
    expect(summary).toMatchObject({
      error_code: 'SYNC_PAGE_LIMIT_EXCEEDED',
      error: 'the list did not end within 18 pages of 100, the most its first total_count (650) allows with room for growth',
    });
    h.simulator.faults.setEndless({ growBy: 100 });
    expect(await failedSync({ SYNC_CONCURRENCY: '1', SYNC_MAX_PAGES: '8' })).toMatchObject({
      error_code: 'SYNC_PAGE_LIMIT_EXCEEDED',
      error: 'the list did not end within SYNC_MAX_PAGES (8) pages',
    });
  });
});

describe('the incremental walk', () => {
  it('is bounded the same way', async () => {
    // Pages that are always full of accounts newer than the watermark.
    let requests = 0;
    const client: UpvestClient = {
      async getAccount() {
        return { found: false, upvestProblem: true, requestId: undefined };
      },
      async listAccounts(query) {
        requests += 1;
        const data = Array.from({ length: query.limit }, (_, i) => ({
          id: `00000000-0000-4000-8000-${String(query.offset + i).padStart(12, '0')}`,
          updated_at: '2030-01-01T00:00:00Z',
        }));
        return {
          meta: { offset: query.offset, limit: query.limit, count: data.length, total_count: 1000 },
          data,
          requestId: undefined,
          digest: '',
          retries: 0,
        } satisfies AccountsPage;
      },
    };
    await expect(
      walkNewestFirst(client, { limit: 100, overlap: 1, maxPages: 1_000, sinceMicros: 0n }, async () => undefined),
    ).rejects.toThrow('the list did not end within 22 pages of 100, the most its first total_count (1000) allows with room for growth');
    expect(requests).toBe(22);
  });
});

describe('transport and key at start', () => {
  it('refuses plain http to a host that is not this machine', async () => {
    const run = await runCli(['sync'], { ...h.env, UPVEST_BASE_URL: 'http://upvest.example.com' });
    expect(run.code).toBe(78);
    expect(run.stderr).toBe(
      'Invalid configuration: UPVEST_BASE_URL must be https: plain http would send the client secret and access tokens in clear text ' +
        '(http is accepted for loopback hosts, or anywhere with UPVEST_ALLOW_INSECURE_HTTP=true)\n',
    );
  });

  it('warns at start when the signing key file can be read by others', async () => {
    const open = join(mkdtempSync(join(tmpdir(), 'account-sync-open-key-')), 'key.pem');
    copyFileSync(h.env.UPVEST_SIGNING_KEY_FILE!, open);
    chmodSync(open, 0o644);
    const run = await runCli(['sync', '--dry-run'], { ...h.env, UPVEST_SIGNING_KEY_FILE: open, LOG_LEVEL: 'warn' });
    expect(run.code).toBe(0);
    expect(run.lines.map((l) => l.msg)).toEqual([
      `UPVEST_SIGNING_KEY_FILE ${open} can be read by any user (mode 644); restrict it with chmod 600`,
    ]);
    rmSync(dirname(open), { recursive: true });
  });

  it('allows it when told to, with a warning at start', async () => {
    const run = await runCli(['sync', '--dry-run'], {
      ...h.env,
      UPVEST_BASE_URL: 'http://upvest.invalid',
      UPVEST_ALLOW_INSECURE_HTTP: 'true',
      UPVEST_RETRIES: '0',
      LOG_LEVEL: 'warn',
    });
    expect(run.code).toBe(1);
    expect(run.lines[0]).toMatchObject({
      msg: 'UPVEST_BASE_URL http://upvest.invalid is plain http (UPVEST_ALLOW_INSECURE_HTTP=true): the client secret and access tokens travel unencrypted',
    });
  });
});
