// The simulator's webhook side: subscriptions, signing keys, and the events its dataset's
// changes produce, delivered to every enabled subscription whose type covers ACCOUNT.
// Event types follow Upvest's account webhooks: an addition is ACCOUNT.CREATED; a status
// change is ACTIVATED (from PENDING_APPROVAL), LOCKED, CLOSING_INITIATED or CLOSED by its
// new status and UPDATED otherwise (an unlock included: Upvest publishes no UNLOCKED type);
// renames and owner changes are UPDATED. Removals and restorations send nothing: Upvest has no
// deletion event (accounts are closed, not deleted), and only a full sync sees them.
import { randomUUID } from 'node:crypto';
import type { DatasetChange, Dataset } from './dataset.js';
import { formatNanos, Outbox, type DeliveryAttempt, type Scheduler, type WebhookEvent } from './webhook-delivery.js';
import { WebhookKeyring } from './webhook-keys.js';
import { Subscriptions } from './webhook-subscriptions.js';
import { WebhookSwitches } from './webhook-switches.js';
import { createTransport, type Transport } from './webhook-transport.js';

export type { DeliveryAttempt, WebhookEvent };

export interface SimulatorWebhooksOptions {
  dataset: Dataset;
  now: () => number;
  /** One second of Upvest's delays and retry waits, in ms; tests scale it down. Default 1000. */
  timeUnitMs?: number;
  /** A delivery without an answer within this long has failed. Default 10000. */
  deliveryTimeoutMs?: number;
  keyId?: string;
  scheduler?: Scheduler;
  /** Accept subscriptions to plain http URLs on any host (a receiver in a container network). */
  allowHttpUrls?: boolean;
}

const MAX_ATTEMPTS_KEPT = 10_000;

const STATUS_EVENTS: Record<string, string> = {
  LOCKED: 'ACCOUNT.LOCKED',
  CLOSING: 'ACCOUNT.CLOSING_INITIATED',
  CLOSED: 'ACCOUNT.CLOSED',
};

export function accountEventType(change: DatasetChange): string | undefined {
  switch (change.kind) {
    case 'added':
      return 'ACCOUNT.CREATED';
    case 'status':
      if (change.account.status === 'ACTIVE' && change.fromStatus === 'PENDING_APPROVAL') return 'ACCOUNT.ACTIVATED';
      return (change.fromStatus !== change.account.status && STATUS_EVENTS[change.account.status]) || 'ACCOUNT.UPDATED';
    case 'rename':
    case 'users':
    case 'extra':
      return 'ACCOUNT.UPDATED';
    default:
      return undefined;
  }
}

function epochMicros(rfc3339: string): number {
  const fraction = /\.(\d+)/.exec(rfc3339)?.[1] ?? '';
  return Date.parse(`${rfc3339.slice(0, 19)}Z`) * 1000 + Number(fraction.padEnd(6, '0').slice(0, 6));
}

export class SimulatorWebhooks {
  readonly subscriptions: Subscriptions;
  readonly keyring: WebhookKeyring;
  readonly switches = new WebhookSwitches();
  /** The delivery attempts so far, oldest first (the most recent 10,000 at least). */
  readonly attempts: DeliveryAttempt[] = [];
  readonly timeUnitMs: number;
  private readonly outboxes = new Map<string, Outbox>();
  private readonly transport: Transport;
  private readonly scheduler: Scheduler;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<{ match: (a: DeliveryAttempt) => boolean; resolve: (a: DeliveryAttempt) => void }>();
  private readonly unsubscribe: () => void;
  /** Events emitted without a created_at get increasing ones. */
  private lastEmitMicros = 0;

  constructor(private readonly options: SimulatorWebhooksOptions) {
    this.timeUnitMs = options.timeUnitMs ?? 1000;
    this.subscriptions = new Subscriptions(options.now, options.allowHttpUrls);
    this.keyring = new WebhookKeyring(options.keyId);
    this.transport = createTransport({
      keyring: this.keyring,
      switches: this.switches,
      now: options.now,
      timeoutMs: options.deliveryTimeoutMs ?? 10_000,
    });
    this.scheduler = options.scheduler ?? {
      after: (ms, run) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          run();
        }, ms);
        this.timers.add(timer);
        return () => {
          clearTimeout(timer);
          this.timers.delete(timer);
        };
      },
    };
    this.unsubscribe = options.dataset.onChange((change) => {
      const type = accountEventType(change);
      // Stamped with the change's own updated_at, so that events keep the order of the changes.
      if (!type) return;
      const micros = epochMicros(change.account.updated_at);
      this.lastEmitMicros = Math.max(this.lastEmitMicros, micros);
      this.emit('ACCOUNT', type, change.account, { created_at: formatNanos(micros) });
    });
  }

  /**
   * Queues an event for every enabled subscription that receives `category`; for tests that
   * need events the dataset does not make (unknown types, bad objects). Returns the event id.
   */
  emit(category: string, type: string, object: unknown, fields: { id?: string; created_at?: string } = {}): string {
    const id = fields.id ?? randomUUID();
    this.lastEmitMicros = Math.max(Math.floor(this.options.now() * 1000), this.lastEmitMicros + 1);
    const createdAt = fields.created_at ?? formatNanos(this.lastEmitMicros);
    for (const subscription of this.subscriptions.receiving(category)) {
      this.outbox(subscription.id).add({ id, created_at: createdAt, type, object, webhook_id: subscription.id });
    }
    return id;
  }

  /** POST /webhooks/{id}/test: one test event to that subscription, enabled or not. */
  sendTest(webhookId: string): void {
    const event: WebhookEvent = {
      id: randomUUID(),
      created_at: formatNanos(Math.floor(this.options.now() * 1000)),
      type: 'WEBHOOK.TEST',
      object: { webhook_id: webhookId, message: 'test event from the Upvest simulator' },
      webhook_id: webhookId,
    };
    this.outbox(webhookId).addBatch([event]);
  }

  /** Events not yet answered 200, over all subscriptions. */
  get backlog(): number {
    let n = 0;
    for (const outbox of this.outboxes.values()) n += outbox.backlog;
    return n;
  }

  /** The first attempt, past or future, that `match`es. */
  waitFor(match: (attempt: DeliveryAttempt) => boolean): Promise<DeliveryAttempt> {
    const past = this.attempts.find(match);
    if (past) return Promise.resolve(past);
    return new Promise((resolve) => this.waiters.add({ match, resolve }));
  }

  /** A subscription was deleted: its queue goes with it. */
  forget(webhookId: string): void {
    this.outboxes.get(webhookId)?.close();
    this.outboxes.delete(webhookId);
  }

  close(): void {
    this.unsubscribe();
    for (const outbox of this.outboxes.values()) outbox.close();
    this.outboxes.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.transport.close();
  }

  private outbox(webhookId: string): Outbox {
    let outbox = this.outboxes.get(webhookId);
    if (!outbox) {
      outbox = new Outbox(() => this.subscriptions.get(webhookId), {
        deliver: this.transport.deliver,
        scheduler: this.scheduler,
        unitMs: this.timeUnitMs,
        switches: this.switches,
        record: (attempt) => this.record(attempt),
      });
      this.outboxes.set(webhookId, outbox);
    }
    return outbox;
  }

  private record(attempt: DeliveryAttempt): void {
    this.attempts.push(attempt);
    // A soak makes millions; the recent ones are what tests look at.
    if (this.attempts.length > 2 * MAX_ATTEMPTS_KEPT) this.attempts.splice(0, this.attempts.length - MAX_ATTEMPTS_KEPT);
    for (const waiter of this.waiters) {
      if (waiter.match(attempt)) {
        this.waiters.delete(waiter);
        waiter.resolve(attempt);
      }
    }
  }
}
