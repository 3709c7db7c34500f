// A token or password echoed back by the server is found nowhere the project writes: not in
// the logs, the command's output, sync_runs, rejected_records, `status --json`, or anything
// BullMQ keeps in Redis (hashes, strings, lists, sets, sorted sets and streams). The echoes
// come without the word "Bearer", so only knowing the values can catch them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkPage } from '../../src/sync/page-check.js';
import { SecretRegistry } from '../../src/secrets.js';
import { runCli } from '../support/cli.js';
import { daemonEnv, deleteKeys, openTestQueue, spawnWorker, uniquePrefix, type CliProcess } from '../support/daemon.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
let prefix: string;
let q: Awaited<ReturnType<typeof openTestQueue>>;
let worker: CliProcess | undefined;

// Trust authentication ignores the passwords; they are here to be echoed back.
const DB_PASSWORD = 'db-pa55word-7f3e';
const REDIS_PASSWORD = 'redis-pa55word-91ab';

beforeAll(async () => {
  h = await startHarness('secrets', { accounts: 300, seed: 9 });
  prefix = uniquePrefix('secrets');
  q = await openTestQueue(prefix);
});
afterEach(async () => {
  h.simulator.faults.clear();
  worker?.kill('SIGTERM');
  if (worker) await worker.exited;
  worker = undefined;
});
afterAll(async () => {
  await q?.close();
  await h?.close();
});

function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}

/** Every text column of every run and rejected record, as one string. */
async function storedText(): Promise<string> {
  const rows = await h.prisma.$queryRaw<Array<{ text: string }>>`
    SELECT coalesce(string_agg(to_jsonb(r)::text, E'\n'), '') AS text FROM sync_runs r
    UNION ALL SELECT coalesce(string_agg(to_jsonb(x)::text, E'\n'), '') FROM rejected_records x`;
  return rows.map((r) => r.text).join('\n');
}

/** Everything stored under the queue prefix, as text per Redis type, and the keys of types not read. */
async function redisContents(keyPrefix: string): Promise<{ byType: Record<string, string>; unread: string[] }> {
  const byType: Record<string, string> = {};
  const unread: string[] = [];
  const c = q.connection;
  for (const key of await c.keys(`${keyPrefix}:*`)) {
    const type = await c.type(key);
    let value: unknown;
    if (type === 'hash') value = await c.hgetall(key);
    else if (type === 'string') value = await c.get(key);
    else if (type === 'list') value = await c.lrange(key, 0, -1);
    else if (type === 'set') value = await c.smembers(key);
    else if (type === 'zset') value = await c.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'stream') value = await c.xrange(key, '-', '+');
    // 'none': gone since it was listed (the worker runs on; BullMQ's marker comes and goes).
    else if (type !== 'none') unread.push(`${key} (${type})`);
    if (value !== undefined) byType[type] = `${byType[type] ?? ''}${key} ${JSON.stringify(value)}\n`;
  }
  return { byType, unread };
}

function expectNowhere(secrets: string[], places: Record<string, string>) {
  for (const [place, text] of Object.entries(places)) {
    for (const secret of secrets) expect(text.includes(secret), `${place} holds ${secret}`).toBe(false);
  }
}

describe('account-sync sync', () => {
  it('writes an echoed access token nowhere, and says where it would have been', async () => {
    h.simulator.faults.enqueue('/accounts', { kind: 'echoToken', status: 403 });
    const env = { ...h.env, DATABASE_URL: withPassword(h.env.DATABASE_URL!, DB_PASSWORD), LOG_LEVEL: 'debug' };
    const run = await runCli(['sync', '--json'], env);
    expect(run.code).toBe(1);
    const [token] = h.simulator.issuedTokens().slice(-1);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const summary = JSON.parse(run.stdout) as { error_code: string; error: string };
    expect(summary.error_code).toBe('UPVEST_FORBIDDEN');
    expect(summary.error).toMatch(/^GET \/accounts offset=0: HTTP 403 Forbidden: access token \[redacted\] is not allowed to list accounts/);
    const status = await runCli(['status', '--json'], env);
    expectNowhere([token!, DB_PASSWORD], {
      stdout: run.stdout,
      logs: run.stderr,
      stored: await storedText(),
      status: status.stdout,
    });
    expect(run.stderr).toContain('[redacted]');
  });

  it('writes an echoed client secret or password nowhere', async () => {
    const echo = `client_id and ${h.env.UPVEST_CLIENT_SECRET} do not match (connection ${DB_PASSWORD})`;
    h.simulator.faults.enqueue('/auth/token', {
      kind: 'status',
      status: 400,
      body: JSON.stringify({ type: 'about:blank', status: 400, title: 'Bad Request', detail: echo }),
    });
    const env = { ...h.env, DATABASE_URL: withPassword(h.env.DATABASE_URL!, DB_PASSWORD), LOG_LEVEL: 'debug' };
    const run = await runCli(['sync', '--json'], env);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error_code: 'UPVEST_TOKEN_INVALID' });
    expectNowhere([h.env.UPVEST_CLIENT_SECRET!, DB_PASSWORD], { stdout: run.stdout, logs: run.stderr, stored: await storedText() });
  });
});

describe('account-sync worker', () => {
  it('keeps an echoed token out of the job in Redis and its own logs', async () => {
    await deleteKeys(q.connection, prefix);
    h.simulator.faults.enqueue('/accounts', { kind: 'echoToken', status: 403 });
    const failed = new Promise<{ jobId: string; failedReason: string }>((resolve) => q.events.once('failed', resolve));
    // The test's Redis asks for no password; ioredis warns and connects anyway.
    worker = spawnWorker(
      daemonEnv(h, prefix, {
        LOG_LEVEL: 'debug',
        REDIS_URL: withPassword(daemonEnv(h, prefix).REDIS_URL!, REDIS_PASSWORD),
        DATABASE_URL: withPassword(h.env.DATABASE_URL!, DB_PASSWORD),
      }),
    );
    const event = await failed;
    const [token] = h.simulator.issuedTokens().slice(-1);
    const job = await q.queue.getJob(event.jobId);
    expect(job?.failedReason).toMatch(/^UPVEST_FORBIDDEN: .*access token \[redacted\] is not allowed/);
    const redis = await redisContents(prefix);
    // BullMQ keeps the job in a hash, its failure in a sorted set, its events in a stream, its
    // markers and ids in lists and strings: every one of them was read.
    expect(Object.keys(redis.byType).sort()).toEqual(expect.arrayContaining(['hash', 'stream', 'string', 'zset']));
    expect(redis.unread).toEqual([]);
    // The events stream does hold the failure's reason, redacted: the scan reads what is there.
    expect(redis.byType.stream).toContain('[redacted] is not allowed');
    expectNowhere([token!, REDIS_PASSWORD, DB_PASSWORD], { ...redis.byType, logs: worker.stderr(), stored: await storedText() });
  });
});

describe('what is kept of a rejected record', () => {
  it('has the known secrets scrubbed from its raw JSON and its reason', () => {
    const secrets = new SecretRegistry(['s3cr3t-value']);
    secrets.addToken('tok-abcdef123456');
    const checked = checkPage([{ id: 'x', name: 'echo s3cr3t-value and tok-abcdef123456' }], secrets.redact);
    expect(checked.rejected[0]!.rawJson).toBe('{"id":"x","name":"echo [redacted] and [redacted]"}');
  });
});
