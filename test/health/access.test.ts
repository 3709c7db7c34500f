// Who may look, on the health ports, as deployed: a real worker and a real receiver listening on
// this machine's own network address (not loopback), over real HTTP. With credentials
// configured, the status page, its JSON, Bull Board and /metrics answer 401 without them and
// 200 with either form; probes stay open. Without credentials, what people look at is not
// served there at all, unless the page was made public on purpose. No answer of either server
// names a host, port, address, pid or file path, and every answer carries the security headers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME } from '../../src/queue/names.js';
import { daemonEnv, openTestQueue, spawnCli, spawnWorker, uniquePrefix, type CliProcess } from '../support/daemon.js';
import { startHarness, type Harness } from '../support/harness.js';

/** This machine's first non-loopback IPv4 address (the container's eth0). */
function networkAddress(): string {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) if (entry.family === 'IPv4' && !entry.internal) return entry.address;
  }
  throw new Error('this machine has no non-loopback IPv4 address to listen on');
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Answer {
  url: string;
  status: number;
  headers: Record<string, string>;
  body: string;
}

async function get(url: string, authorization?: string): Promise<Answer> {
  const response = await fetch(url, { headers: authorization ? { authorization } : {} });
  return { url, status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() };
}

const TOKEN = 'a-long-random-bearer-token-0f3c9';
const USER = 'viewer';
const PASSWORD = 'correct horse battery';
const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const address = networkAddress();
let h: Harness;
let q: Awaited<ReturnType<typeof openTestQueue>>;
let secretsDir: string;
let worker: CliProcess;
let base: string;
let upstreamPort: number;
/** Every answer the tests saw, for the checks that hold for all of them. */
const seen: Answer[] = [];
const record = async (url: string, authorization?: string) => {
  const answer = await get(url, authorization);
  seen.push(answer);
  return answer;
};

beforeAll(async () => {
  h = await startHarness('health_access', { accounts: 20 });
  q = await openTestQueue(uniquePrefix('access'));
  secretsDir = mkdtempSync(join(tmpdir(), 'account-sync-health-auth-'));
  writeFileSync(join(secretsDir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  writeFileSync(join(secretsDir, 'password'), PASSWORD, { mode: 0o600 });
  upstreamPort = await closedPort();
  const failed = new Promise<void>((resolve) => q.events.once('failed', () => resolve()));
  // Upvest unreachable: the start-up run fails at once with an error naming 127.0.0.1 and a port.
  worker = spawnWorker(
    daemonEnv(h, q.queue.opts.prefix!, {
      HEALTH_HOST: address,
      BULL_BOARD_ENABLED: 'true',
      HEALTH_AUTH_TOKEN_FILE: join(secretsDir, 'token'),
      HEALTH_AUTH_USER: USER,
      HEALTH_AUTH_PASSWORD_FILE: join(secretsDir, 'password'),
      UPVEST_BASE_URL: `http://127.0.0.1:${upstreamPort}`,
      UPVEST_RETRIES: '0',
      QUEUE_JOB_ATTEMPTS: '1',
      SYNC_INTERVAL_MS: '3600000',
    }),
  );
  base = `http://${address}:${await worker.healthPort()}`;
  await failed;
});

afterAll(async () => {
  worker?.kill('SIGTERM');
  if (worker) expect((await worker.exited).code).toBe(0);
  await q?.close();
  await h?.close();
  if (secretsDir) rmSync(secretsDir, { recursive: true, force: true });
});

const PEOPLE = ['/status', '/status/api/live', '/status/api/figures?days=30', '/status/assets/status.js', '/admin/queues', `/admin/queues/api/queues?activeQueue=${QUEUE_NAME}&status=failed&page=1`];

describe('a worker listening beyond loopback, with credentials configured', () => {
  it('answers 401 to the status page, its JSON, Bull Board and /metrics without valid credentials, 200 with a token or a password', async () => {
    for (const path of [...PEOPLE, '/metrics']) {
      for (const wrong of [undefined, bearer('not-the-token-but-long-enough'), basic(USER, 'wrong password'), basic('someone', PASSWORD), `Token ${TOKEN}`]) {
        const answer = await record(`${base}${path}`, wrong);
        expect([path, wrong, answer.status, answer.body]).toEqual([path, wrong, 401, 'unauthorized\n']);
        expect(answer.headers['www-authenticate']).toBe('Basic realm="account-sync", charset="UTF-8", Bearer realm="account-sync"');
      }
      for (const right of [bearer(TOKEN), basic(USER, PASSWORD)]) expect([path, (await record(`${base}${path}`, right)).status]).toEqual([path, 200]);
    }
  });

  it('keeps /healthz and /readyz open for probes', async () => {
    expect(await record(`${base}/healthz`)).toMatchObject({ status: 200, body: '{"status":"alive"}\n' });
    expect(await record(`${base}/readyz`)).toMatchObject({ status: 200 });
  });

  it("shows a failed run's error as its code and a message without hosts, ports or addresses", async () => {
    const [stored] = await h.prisma.$queryRaw<Array<{ error_code: string; error: string }>>`SELECT error_code, error FROM sync_runs`;
    expect(stored!.error).toContain(`127.0.0.1:${upstreamPort}`);
    const live = JSON.parse((await record(`${base}/status/api/live`, bearer(TOKEN))).body) as { runs: Array<{ status: string; errorCode: string; error: string }> };
    expect(live.runs.map((run) => [run.status, run.errorCode, run.error])).toEqual([['failed', 'UPVEST_NETWORK', 'POST /auth/token: connection refused']]);
  });

  it('shows Bull Board without its Redis panel, its workers, stack traces or who processed a job', async () => {
    const auth = bearer(TOKEN);
    const listing = JSON.parse((await record(`${base}/admin/queues/api/queues?activeQueue=${QUEUE_NAME}&status=failed&page=1`, auth)).body) as {
      queues: Array<{ name: string; jobs: Array<{ id: string; failedReason: string; stacktrace: string[]; processedBy?: string }> }>;
    };
    const [job] = listing.queues[0]!.jobs;
    expect([job!.failedReason, job!.stacktrace, 'processedBy' in job!]).toEqual(['UPVEST_NETWORK: POST /auth/token: connection refused (sync run 1)', [], false]);
    const [stored] = await q.queue.getJobs(['failed']);
    expect([stored!.failedReason, stored!.stacktrace!.join('\n'), stored!.processedBy]).toEqual([
      expect.stringContaining(`127.0.0.1:${upstreamPort}`),
      expect.stringContaining('job-outcome.js:'),
      expect.stringContaining(hostname()),
    ]);
    const detail = await record(`${base}/admin/queues/api/queues/${QUEUE_NAME}/${job!.id}`, auth);
    expect(detail.status).toBe(200);
    expect(JSON.parse(detail.body)).toMatchObject({ job: { id: job!.id, failedReason: job!.failedReason, stacktrace: [] } });
    expect((await record(`${base}/admin/queues/api/redis/stats`, auth)).status).toBe(403);
    expect((await record(`${base}/admin/queues/api/queues/${QUEUE_NAME}/workers`, auth)).status).toBe(403);
    // Its UI's own files, served under its Content-Security-Policy.
    const html = await record(`${base}/admin/queues`, auth);
    const script = /src="(static\/js\/main[^"]+)"/.exec(html.body)![1]!;
    expect((await record(`${base}/admin/queues/${script}`, auth)).status).toBe(200);
  });
});

describe("the worker's health port", () => {
  it('closes a connection that dribbles its headers, or says nothing, within 10 s', async () => {
    const url = new URL(base);
    const openSocket = () =>
      new Promise<{ socket: Socket; closed: Promise<number>; received: () => string }>((resolve) => {
        const started = Date.now();
        const socket = connect(Number(url.port), url.hostname);
        let received = '';
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('error', () => undefined);
        const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
        socket.once('connect', () => resolve({ socket, closed, received: () => received }));
      });
    const [dribbling, silent] = await Promise.all([openSocket(), openSocket()]);
    dribbling.socket.write(`GET /status HTTP/1.1\r\nHost: ${url.host}\r\n`);
    const drip = setInterval(() => dribbling.socket.write(`X-Drip-${Date.now()}: 1\r\n`), 1_000);
    try {
      const closedAfter = await Promise.all([dribbling.closed, silent.closed]);
      for (const ms of closedAfter) expect(ms).toBeLessThan(10_000);
      expect([dribbling.received().split('\r\n')[0], silent.received()]).toEqual(['HTTP/1.1 408 Request Timeout', '']);
    } finally {
      clearInterval(drip);
    }
  }, 30_000);
});

describe('a worker listening beyond loopback without credentials', () => {
  it('serves neither the page nor Bull Board there, says how to turn them on, and serves a page made public, with a warning', async () => {
    const prefix = uniquePrefix('open');
    const plain = spawnWorker(daemonEnv(h, prefix, { HEALTH_HOST: address, BULL_BOARD_ENABLED: 'true', SYNC_INTERVAL_MS: '3600000' }));
    const open = spawnWorker(daemonEnv(h, prefix, { HEALTH_HOST: address, BULL_BOARD_ENABLED: 'true', STATUS_PAGE_PUBLIC: 'true', SYNC_INTERVAL_MS: '3600000' }));
    try {
      const plainBase = `http://${address}:${await plain.healthPort()}`;
      const openBase = `http://${address}:${await open.healthPort()}`;
      const statusOf = async (url: string) => (await record(url)).status;
      expect([
        await statusOf(`${plainBase}/status`),
        await statusOf(`${plainBase}/status/api/live`),
        await statusOf(`${plainBase}/admin/queues`),
        await statusOf(`${plainBase}/metrics`),
        await statusOf(`${plainBase}/healthz`),
      ]).toEqual([404, 404, 404, 200, 200]);
      expect([
        await statusOf(`${openBase}/status`),
        await statusOf(`${openBase}/status/api/live`),
        await statusOf(`${openBase}/admin/queues`),
        await statusOf(`${openBase}/metrics`),
      ]).toEqual([200, 200, 404, 200]);
      const warning = await plain.waitForLog((line) => line.msg?.startsWith('/status and /admin/queues not served') ?? false, 'the warning');
      expect([warning.level, warning.msg]).toEqual([
        40,
        `/status and /admin/queues not served on ${address}:${await plain.healthPort()} (not a loopback address) without credentials: ` +
          'set HEALTH_AUTH_TOKEN_FILE (token) or HEALTH_AUTH_USER and HEALTH_AUTH_PASSWORD_FILE (Basic), see docs/operations.md, "Security notes"',
      ]);
      const publicWarning = await open.waitForLog((line) => line.msg?.includes('STATUS_PAGE_PUBLIC=true') ?? false, 'the public warning');
      expect([publicWarning.level, publicWarning.msg]).toEqual([
        40,
        `/status served without credentials to anyone who can reach ${address}:${await open.healthPort()} (STATUS_PAGE_PUBLIC=true)`,
      ]);
    } finally {
      plain.kill('SIGTERM');
      open.kill('SIGTERM');
      expect([(await plain.exited).code, (await open.exited).code]).toEqual([0, 0]);
    }
  });
});

describe("a receiver's health port beyond loopback, with credentials configured", () => {
  it('answers 401 to /metrics without them and 200 with them, and keeps its probes open', async () => {
    const receiver = spawnCli(['receiver'], {
      ...h.env,
      LOG_LEVEL: 'info',
      WEBHOOK_RECEIVER_HOST: '127.0.0.1',
      WEBHOOK_RECEIVER_PORT: '0',
      WEBHOOK_RECEIVER_HEALTH_HOST: address,
      WEBHOOK_RECEIVER_HEALTH_PORT: '0',
      HEALTH_AUTH_TOKEN_FILE: join(secretsDir, 'token'),
    });
    try {
      const healthBase = `http://${address}:${await receiver.healthPort()}`;
      expect([(await record(`${healthBase}/metrics`)).status, (await record(`${healthBase}/metrics`, bearer(TOKEN))).status]).toEqual([401, 200]);
      expect([(await record(`${healthBase}/healthz`)).status, (await record(`${healthBase}/readyz`)).status]).toEqual([200, 200]);
    } finally {
      receiver.kill('SIGTERM');
      expect((await receiver.exited).code).toBe(0);
    }
  });
});

describe('every answer seen above', () => {
  it('names no host, port, address, pid or file path', () => {
    expect(seen.length).toBeGreaterThanOrEqual(70);
    const forbidden = [hostname(), address, '127.0.0.1', `:${upstreamPort}`, ':6379', ':5432', process.cwd(), 'node_modules', '.js:', '.ts:'];
    for (const answer of seen) {
      const text = `${JSON.stringify(answer.headers)}\n${answer.body}`;
      for (const word of forbidden) expect([answer.url, text.includes(word) ? word : null]).toEqual([answer.url, null]);
      expect([answer.url, /\bpid\b/i.test(text)]).toEqual([answer.url, false]);
      // Numbers abound in the metrics; elsewhere the worker's pid must not appear.
      if (!answer.url.endsWith('/metrics')) expect([answer.url, new RegExp(`\\b${worker.child.pid}\\b`).test(text)]).toEqual([answer.url, false]);
    }
  });

  it('carries the security headers: nosniff everywhere, no-store on JSON, a CSP with frame-ancestors none on HTML', () => {
    for (const answer of seen) {
      const type = answer.headers['content-type'] ?? '';
      expect([answer.url, answer.headers['x-content-type-options']]).toEqual([answer.url, 'nosniff']);
      if (type.startsWith('application/json')) expect([answer.url, answer.headers['cache-control']]).toEqual([answer.url, 'no-store']);
      if (type.startsWith('text/html')) expect([answer.url, answer.headers['content-security-policy']]).toEqual([answer.url, expect.stringContaining("frame-ancestors 'none'")]);
      expect([answer.url, answer.headers['x-powered-by']]).toEqual([answer.url, undefined]);
    }
  });
});
