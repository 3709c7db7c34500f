// Following the change feed as it grows: LISTEN on the feed's channel on a connection of our
// own (Prisma's pool cannot LISTEN), and read from the cursor again whenever a notification
// arrives. The notification is only a wake-up call: what to print always comes from the table,
// read by id from the cursor, so a notification that is lost, merged with another or arrives
// while we are reading costs nothing but a little latency. A periodic re-read covers the times
// the listening connection is down (and re-establishes it).
import { escapeIdentifier, type Client } from 'pg';
import { FEED_CHANNEL } from '../db/feed.js';
import type { PrismaClient } from '../db/prisma.js';
import { describePgError } from '../db/pg-client.js';
import type { Logger } from '../logger.js';
import { drainChanges, type FeedChange, type FeedReader } from './feed.js';

export const DEFAULT_SAFETY_INTERVAL_MS = 30_000;

export interface FollowDeps<T extends { id: string } = FeedChange> {
  prisma: PrismaClient;
  /** Opens a dedicated connection for LISTEN; it is ended when following stops. */
  connect: () => Promise<Client>;
  logger: Logger;
  emit: (change: T) => void | Promise<void>;
  /** Another feed than the status changes: how to read it, and the channel that announces it. */
  feed?: { read: FeedReader<T>; channel: string };
}

export interface FollowOptions {
  since: bigint;
  /** Stop after this many changes; unset: until `signal` aborts. */
  limit?: number;
  batchSize?: number;
  /** Re-read this often without a notification; also how often a lost listener is retried. */
  safetyIntervalMs?: number;
  signal: AbortSignal;
  /** Called each time the feed has been read to its end; `listening` says whether LISTEN is up. */
  onCaughtUp?: (state: { cursor: bigint; emitted: number; listening: boolean }) => void;
}

export interface FollowResult {
  cursor: bigint;
  emitted: number;
}

/** Prints (emits) every change after `since`, then each new one as it commits, until stopped. */
export async function followChanges<T extends { id: string } = FeedChange>(deps: FollowDeps<T>, options: FollowOptions): Promise<FollowResult> {
  const { signal } = options;
  const safetyIntervalMs = options.safetyIntervalMs ?? DEFAULT_SAFETY_INTERVAL_MS;
  const wake = new Wakeup();
  let cursor = options.since;
  let emitted = 0;
  let listener: Listener | null = null;
  try {
    while (!signal.aborted) {
      // (Re-)LISTEN before reading: a change committed after the read started is then either
      // in the read or announced to us, never neither. A lost listener is replaced at once;
      // one that cannot be opened is retried after the next periodic re-read.
      if (!listener?.alive) {
        await listener?.close();
        listener = await openListener(deps, wake);
      }
      wake.clear();
      const round = await drainChanges(deps.prisma, {
        since: cursor,
        limit: options.limit === undefined ? undefined : options.limit - emitted,
        batchSize: options.batchSize,
        signal,
        emit: deps.emit,
        read: deps.feed?.read,
      });
      cursor = round.cursor;
      emitted += round.emitted;
      if (options.limit !== undefined && emitted >= options.limit) break;
      if (signal.aborted) break;
      options.onCaughtUp?.({ cursor, emitted, listening: listener?.alive ?? false });
      await wake.wait(safetyIntervalMs, signal);
    }
  } finally {
    await listener?.close();
  }
  return { cursor, emitted };
}

interface Listener {
  readonly alive: boolean;
  close(): Promise<void>;
}

/** A LISTENing connection, or null when none could be opened (we then poll until one can). */
async function openListener<T extends { id: string }>(deps: FollowDeps<T>, wake: Wakeup): Promise<Listener | null> {
  const channel = deps.feed?.channel ?? FEED_CHANNEL;
  let client: Client | undefined;
  let alive = false;
  const lost = (error?: unknown) => {
    if (!alive) return;
    alive = false;
    deps.logger.warn(
      { err: error === undefined ? undefined : describePgError(error) },
      'change feed: the listening connection was lost; re-reading periodically until it is back',
    );
    wake.notify();
  };
  try {
    client = await deps.connect();
    // Handlers go on before LISTEN so that nothing said right after it goes unheard.
    client.on('notification', (message) => {
      if (message.channel === channel) wake.notify();
    });
    client.on('error', lost);
    client.on('end', () => lost());
    await client.query(`LISTEN ${escapeIdentifier(channel)}`);
    alive = true;
  } catch (error) {
    deps.logger.warn(
      { err: describePgError(error) },
      'change feed: cannot LISTEN; re-reading periodically instead',
    );
    await client?.end().catch(() => undefined);
    return null;
  }
  const opened = client;
  return {
    get alive() {
      return alive;
    },
    async close() {
      alive = false;
      await opened.end().catch(() => undefined);
    },
  };
}

/** A level-triggered wake-up: a notify() between clear() and wait() is not lost. */
class Wakeup {
  private pending = false;
  private resolveWait: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    this.resolveWait?.();
  }

  clear(): void {
    this.pending = false;
  }

  /** Resolves at the first of: a notify() (past or future), `ms` elapsed, `signal` aborted. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.resolveWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.resolveWait = done;
    });
  }
}
