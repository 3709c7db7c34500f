import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadSections, type Env } from '../../src/config/index.js';
import { UpvestError } from '../../src/errors.js';
import { createLogger, silentLogger } from '../../src/logger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import { RequestGate } from '../../src/upvest/retry.js';

let sim: Simulator;
let keyDir: string;
let env: Env;

beforeAll(async () => {
  sim = await startSimulator({ accounts: 250, seed: 2 });
  keyDir = mkdtempSync(join(tmpdir(), 'client-test-'));
  writeFileSync(join(keyDir, 'key.pem'), sim.privateKeyPem ?? '', { mode: 0o600 });
  env = {
    UPVEST_BASE_URL: sim.url,
    UPVEST_CLIENT_ID: sim.clientId,
    UPVEST_CLIENT_SECRET: sim.clientSecret,
    UPVEST_SIGNING_KEY_FILE: join(keyDir, 'key.pem'),
    UPVEST_SIGNING_KEY_ID: sim.keyId,
    UPVEST_RETRIES: '4',
    UPVEST_RETRY_MIN_DELAY_MS: '1',
    UPVEST_RETRY_MAX_DELAY_MS: '5',
    UPVEST_REQUEST_TIMEOUT_MS: '300',
  };
});
afterAll(async () => {
  await sim?.close();
  rmSync(keyDir, { recursive: true, force: true });
});
beforeEach(() => {
  sim.faults.clear();
  sim.stats.reset();
});

/** A gate that records the holds asked of it instead of waiting, so Retry-After can be checked exactly. */
class RecordingGate extends RequestGate {
  readonly waits: number[] = [];
  override holdFor(ms: number): void {
    this.waits.push(ms);
  }
}

function client(overrides: Env = {}, options: { gate?: RequestGate; logs?: string[] } = {}) {
  const logger = options.logs
    ? createLogger(
        { level: 'info' },
        new Writable({
          write(chunk, _encoding, done) {
            options.logs!.push(String(chunk));
            done();
          },
        }),
      )
    : silentLogger();
  return createUpvestClientFromConfig(loadSections({ ...env, ...overrides }, ['upvest']).upvest, { logger, gate: options.gate });
}

const firstPage = { offset: 0, limit: 100, sort: 'created_at', order: 'ASC' } as const;

async function failureOf(promise: Promise<unknown>): Promise<UpvestError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof UpvestError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}

describe('Upvest client against the simulator', () => {
  it('signs its requests so that the simulator accepts them, and reuses one token', async () => {
    const c = client();
    const pages = await Promise.all([0, 99, 198].map((offset) => c.listAccounts({ ...firstPage, offset })));
    expect(pages.map((p) => p.data.length)).toEqual([100, 100, 52]);
    expect(pages[0]!.meta).toMatchObject({ offset: 0, limit: 100, count: 100, total_count: 250 });
    expect(sim.stats.tokensIssued).toBe(1);
    expect(sim.stats.signatureRejections).toBe(0);
  });

  it('fetches a new token once when the current one expired, and fails if the new one is refused too', async () => {
    const c = client();
    await c.listAccounts(firstPage);
    sim.expireTokens();
    const page = await c.listAccounts(firstPage);
    expect(page.data).toHaveLength(100);
    expect(sim.stats.tokensIssued).toBe(2);
    expect(page.retries).toBe(0);

    sim.faults.enqueue('/accounts', { kind: 'status', status: 401 }, { kind: 'status', status: 401 });
    const error = await failureOf(c.listAccounts(firstPage));
    expect(error.code).toBe('UPVEST_UNAUTHORIZED');
    // 1 + (401, retry with a new token) + (401, 401 again with the next new token: final)
    expect(sim.stats.byPath['/accounts']).toBe(5);
    expect(sim.stats.tokensIssued).toBe(3);
  });

  it.each([
    ['429 without Retry-After', { kind: 'status', status: 429 }],
    ['500', { kind: 'status', status: 500 }],
    ['502', { kind: 'status', status: 502 }],
    ['503', { kind: 'status', status: 503 }],
    ['504', { kind: 'status', status: 504 }],
    ['a connection reset', { kind: 'reset' }],
    ['a truncated body', { kind: 'truncate' }],
    ['a body that is not JSON', { kind: 'nonjson' }],
    ['a timeout', { kind: 'latency', ms: 1000 }],
  ] as const)('retries %s and returns the page', async (_name, fault) => {
    sim.faults.enqueue('/accounts', fault, fault);
    const page = await client().listAccounts(firstPage);
    expect(page.data).toHaveLength(100);
    expect(page.retries).toBe(2);
    expect(sim.faults.pending()).toBe(0);
  });

  it('retries a failed token request as well', async () => {
    sim.faults.enqueue('/auth/token', { kind: 'status', status: 503 });
    const page = await client().listAccounts(firstPage);
    expect(page.data).toHaveLength(100);
    expect(page.retries).toBe(1);
    expect(sim.stats.tokensIssued).toBe(1);
  });

  it('honours Retry-After given in seconds and as an HTTP date', async () => {
    const gate = new RecordingGate();
    const c = client({}, { gate });
    sim.faults.enqueue('/accounts', { kind: 'status', status: 429, retryAfter: '3' });
    await c.listAccounts(firstPage);
    expect(gate.waits).toHaveLength(1);
    expect(gate.waits[0]).toBeGreaterThan(2900);
    expect(gate.waits[0]).toBeLessThanOrEqual(3000);

    const dateGate = new RecordingGate();
    const at = new Date(Date.now() + 10_000).toUTCString();
    sim.faults.enqueue('/accounts', { kind: 'status', status: 503, retryAfter: at });
    await client({}, { gate: dateGate }).listAccounts(firstPage);
    // An HTTP date has whole seconds: the wait is what is left of those ten seconds.
    expect(dateGate.waits).toHaveLength(1);
    expect(dateGate.waits[0]).toBeGreaterThan(8900);
    expect(dateGate.waits[0]).toBeLessThanOrEqual(10_000);
  });

  it.each([
    [400, 'UPVEST_BAD_REQUEST'],
    [403, 'UPVEST_FORBIDDEN'],
    [404, 'UPVEST_NOT_FOUND'],
    [406, 'UPVEST_NOT_ACCEPTABLE'],
  ] as const)('fails at once on %i with the problem detail', async (status, code) => {
    const body = JSON.stringify({
      type: 'https://docs.upvest.co/errors/x',
      status,
      title: 'Nope',
      detail: `detail for ${status}`,
      request_id: 'req-1',
    });
    sim.faults.enqueue('/accounts', { kind: 'status', status, body });
    const logs: string[] = [];
    const error = await failureOf(client({}, { logs }).listAccounts(firstPage));
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.message).toMatch(new RegExp(`^GET /accounts offset=0: HTTP ${status} Nope: detail for ${status} \\(upvest-request-id [^)]+\\)$`));
    expect(sim.stats.byPath['/accounts']).toBe(1);
    // The failure is logged with Upvest's request id.
    const line = JSON.parse(logs.find((l) => l.includes('"upvestRequestId"'))!);
    expect(line.upvestRequestId).toBe(error.requestId);
  });

  it('gives up after the configured number of retries', async () => {
    sim.faults.setRandom({ probability: 1, kinds: [{ kind: 'status', status: 500 }], path: '/accounts' });
    const error = await failureOf(client({ UPVEST_RETRIES: '3' }).listAccounts(firstPage));
    expect(error.code).toBe('UPVEST_SERVER_ERROR');
    expect(sim.stats.byPath['/accounts']).toBe(4);
    sim.faults.setRandom(null);
  });

  it('stops at once, without retrying, when the client secret is wrong', async () => {
    const error = await failureOf(client({ UPVEST_CLIENT_SECRET: 'wrong' }).listAccounts(firstPage));
    expect(error.code).toBe('UPVEST_TOKEN_INVALID');
    expect(error.message).toMatch(/^Upvest refused the client credentials \(check UPVEST_CLIENT_ID, UPVEST_CLIENT_SECRET/);
    expect(sim.stats.byPath['/auth/token']).toBe(1);
    expect(sim.stats.byPath['/accounts'] ?? 0).toBe(0);
  });
});
