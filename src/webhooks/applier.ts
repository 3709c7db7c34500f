// Keeps applying stored webhook events as they arrive: at once when this process stored them
// (kick), when another receiver did (LISTEN webhook_events), and on a timer, which also picks up
// whatever a crashed process stored but never applied. Several receivers may run this; they
// take turns through the apply lock, and a turn refused is tried again shortly.
import type { Client } from 'pg';
import { describePgError, openClient } from '../db/pg-client.js';
import type { PrismaClient } from '../db/prisma.js';
import { errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { applyPendingEvents, type ApplyDeps, type ApplyResult } from './apply.js';
import { WEBHOOK_EVENTS_CHANNEL } from './event-store.js';

export interface ApplierOptions extends ApplyDeps {
  prisma: PrismaClient;
  databaseUrl: string;
  logger: Logger;
  batchSize: number;
  /** How often pending events are looked for without being told. */
  sweepMs: number;
  onApplied?: (result: ApplyResult) => void;
}

export interface Applier {
  /** Apply whatever is pending, now (or right after the pass under way). */
  kick(): void;
  /** Settles when no pass is under way or asked for. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** When another applier holds the lock, look again after this long: it may have finished before our events committed. */
const BUSY_RETRY_MS = 200;
/** Events wait for their subscription to be told ours or not: look again this soon (GET /webhooks is rate-bound anyway). */
const WAITING_RETRY_MS = 1_000;
const LISTEN_RETRY_MS = 2_000;

export async function startApplier(options: ApplierOptions): Promise<Applier> {
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, work: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      work();
    }, ms);
    timers.add(timer);
  };

  const pass = async () => {
    for (;;) {
      again = false;
      const result = await applyPendingEvents(options.prisma, options, options.batchSize);
      if (result.busy) {
        if (!closed) later(BUSY_RETRY_MS, kick);
        return;
      }
      if (result.claimed > 0) options.onApplied?.(result);
      if (result.waiting > 0 && !closed) later(WAITING_RETRY_MS, kick);
      if (closed || (result.claimed < options.batchSize && !again)) return;
    }
  };
  const kick = () => {
    if (closed) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((error: unknown) => {
        // Nothing is lost: the events stay pending, and the next kick or sweep tries again.
        options.logger.warn({ err: error }, `applying webhook events failed: ${errorMessageOf(error)}`);
      })
      .finally(() => {
        running = null;
        if (again) kick();
      });
  };

  let listener: Client | null = null;
  const listen = async () => {
    if (closed) return;
    try {
      const client = await openClient(options.databaseUrl, 'account-sync webhook applier');
      client.on('notification', kick);
      client.on('error', () => undefined);
      client.on('end', () => {
        listener = null;
        if (!closed) later(LISTEN_RETRY_MS, () => void listen());
      });
      await client.query(`LISTEN ${WEBHOOK_EVENTS_CHANNEL}`);
      listener = client;
      kick(); // whatever arrived while we were not listening
    } catch (error) {
      options.logger.warn(`webhook applier cannot listen for new events (${describePgError(error)}); retrying`);
      later(LISTEN_RETRY_MS, () => void listen());
    }
  };
  await listen();
  const sweep = setInterval(kick, options.sweepMs);
  sweep.unref();

  return {
    kick,
    async idle() {
      while (running) await running;
    },
    async close() {
      closed = true;
      clearInterval(sweep);
      for (const timer of timers) clearTimeout(timer);
      await running;
      await listener?.end().catch(() => undefined);
    },
  };
}
