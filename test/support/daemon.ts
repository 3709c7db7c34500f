// Helpers for the daemon's tests: real `account-sync` processes with their JSON logs, a unique
// queue prefix per test file, the queue seen from the test, and bounded waits.
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import type { Env } from '../../src/config/index.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { QUEUE_NAME, type SyncJobData, type SyncJobResult } from '../../src/queue/names.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { spawnCli, type CliProcess, type LogLine } from './cli.js';
import type { Harness } from './harness.js';

export { spawnCli, type CliProcess, type LogLine } from './cli.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function spawnWorker(env: Env): CliProcess {
  return spawnCli(['worker'], env);
}

/** A queue prefix no other test file or run uses. */
export function uniquePrefix(label: string): string {
  return `as-test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * The environment of a worker under test: fast recovery of a dead worker's job (claims of 2 s
 * checked every second), a schedule check every second, a free health port, info logs.
 */
export function daemonEnv(h: Harness, prefix: string, extra: Env = {}): Env {
  return {
    ...h.env,
    REDIS_URL,
    QUEUE_PREFIX: prefix,
    QUEUE_LOCK_DURATION_MS: '2000',
    QUEUE_STALLED_INTERVAL_MS: '1000',
    QUEUE_SCHEDULE_CHECK_MS: '1000',
    QUEUE_JOB_BACKOFF_MS: '200',
    QUEUE_RATE_LIMIT_PAUSE_MS: '1500',
    SYNC_INTERVAL_MS: '60000',
    SYNC_LOCK_WAIT_MS: '5000',
    SHUTDOWN_TIMEOUT_MS: '10000',
    HEALTH_HOST: '127.0.0.1',
    HEALTH_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** The sync queue as the test sees it, plus its events; `close` also deletes every key. */
export async function openTestQueue(prefix: string, redisUrl = REDIS_URL) {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const blocking = connection.duplicate();
  for (const c of [connection, blocking]) c.on('error', () => undefined);
  const queue = new Queue<SyncJobData, SyncJobResult>(QUEUE_NAME, { connection, prefix });
  const events = new QueueEvents(QUEUE_NAME, { connection: blocking, prefix });
  await events.waitUntilReady();
  return {
    queue,
    events,
    connection,
    async close() {
      await events.close();
      await queue.close();
      await deleteKeys(connection, prefix);
      // Connections handed to BullMQ stay open when it closes; they are ours to end.
      blocking.disconnect();
      await connection.quit();
    },
  };
}

/** Deletes every key under `prefix:` (what obliterate would, without needing a paused queue). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Resolves after `count` jobs of the queue completed (counted from now). */
export function completions(events: QueueEvents, count: number, timeoutMs = 60_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ids: string[] = [];
    const onCompleted = ({ jobId }: { jobId: string }) => {
      ids.push(jobId);
      if (ids.length < count) return;
      clearTimeout(timer);
      events.off('completed', onCompleted);
      resolve(ids);
    };
    const timer = setTimeout(() => {
      events.off('completed', onCompleted);
      reject(new Error(`only ${ids.length} of ${count} jobs completed within ${timeoutMs} ms`));
    }, timeoutMs);
    events.on('completed', onCompleted);
  });
}

/**
 * Polls `probe` until it returns something other than undefined/false. Only for state that has
 * no event to wait for (rows in the database, an HTTP answer); bounded by `timeoutMs`.
 */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined | false>,
  what: string,
  { timeoutMs = 30_000, intervalMs = 100 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export interface RunRow {
  id: bigint;
  status: string;
  mode: string;
  started_at: Date;
  finished_at: Date | null;
  error_code: string | null;
  error: string | null;
  resumes: number;
  pages: number;
  accounts_seen: number;
}

export async function runRows(prisma: PrismaClient): Promise<RunRow[]> {
  return prisma.$queryRaw<RunRow[]>`
    SELECT id, status, mode, started_at, finished_at, error_code, error, resumes, pages, accounts_seen
    FROM sync_runs ORDER BY started_at, id`;
}

export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
}

/** The value of one Prometheus sample, e.g. metric(text, 'account_sync_runs_total{outcome="succeeded"}'). */
export function metric(text: string, sample: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${sample} `)) return Number(line.slice(sample.length + 1));
  }
  return undefined;
}

export const isMsg = (prefix: string) => (line: LogLine) => typeof line.msg === 'string' && line.msg.startsWith(prefix);

/** How many pages a run has committed so far (sync_run_pages; there is no event for it). */
export async function committedPageCount(prisma: PrismaClient, runId: string | bigint): Promise<number> {
  return prisma.syncRunPage.count({ where: { syncRunId: BigInt(runId) } });
}

/** A TCP proxy the test can cut (every connection dropped, new ones refused) and restore. */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = connect(target.port, target.host);
        const pair = [client, upstream];
        for (const socket of pair) {
          sockets.add(socket);
          socket.on('error', () => undefined);
          socket.on('close', () => {
            sockets.delete(socket);
            for (const other of pair) other.destroy();
          });
        }
        client.pipe(upstream);
        upstream.pipe(client);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    async cut() {
      const s = server;
      server = undefined;
      for (const socket of sockets) socket.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    restore: listen,
  };
}

/** A redis-server of the test's own, keeping nothing on disk: a restart loses all its data. */
export async function startRedisServer() {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      let out = '';
      c.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      c.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
    });
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, restart: start };
}

/** A TCP port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}
