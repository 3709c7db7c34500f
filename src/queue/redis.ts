// Redis connections. The daemon's never give up: ioredis reconnects for as long as it takes
// and commands wait for it (BullMQ workers require maxRetriesPerRequest: null), so an outage
// pauses the daemon instead of crashing it. A one-shot command fails fast instead.
import { Redis } from 'ioredis';
import { AccountSyncError } from '../errors.js';

export type { Redis };

/** Reconnect quickly at first, then every 2 s: a restarted Redis is noticed within seconds. */
const reconnectDelay = (attempt: number) => Math.min(100 * attempt, 2_000);

export function createDaemonRedis(url: string, name: string): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: reconnectDelay,
  });
  // Errors are reported through readiness; an 'error' without a listener would crash.
  redis.on('error', () => undefined);
  return redis;
}

/** One attempt to connect, for commands that should say "Redis is down" and exit. */
export async function connectOnce(url: string, name: string, timeoutMs = 5_000): Promise<Redis> {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 1,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
    lazyConnect: true,
  });
  let lastError: unknown;
  redis.on('error', (error) => {
    lastError = error;
  });
  try {
    await redis.connect();
    return redis;
  } catch (error) {
    redis.disconnect();
    const cause = lastError ?? error;
    throw new AccountSyncError(
      'REDIS_UNAVAILABLE',
      `cannot reach Redis at ${describeRedisUrl(url)}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** host:port/db without credentials, for messages. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}${parsed.pathname && parsed.pathname !== '/' ? parsed.pathname : ''}`;
  } catch {
    return '(unparsable REDIS_URL)';
  }
}
