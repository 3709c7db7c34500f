// Delivers webhook events the way Upvest's handler docs describe: per subscription, events are
// collected for `delay`, cut into batches of at most `max_package_size` bytes (a single larger
// event still goes, alone), sent oldest first, one request at a time. A delivery not answered
// 200 is retried whole after 1, 2, 3, 5, 8 … time units (capped at 600), with no limit on
// attempts, and holds back every later delivery of its subscription until it succeeds.
// The time unit is one second for Upvest and scaled down for tests.
import { randomInt } from 'node:crypto';
import type { WebhookSwitches } from './webhook-switches.js';
import type { Subscription } from './webhook-subscriptions.js';
import { delaySeconds } from './webhook-subscriptions.js';

export interface WebhookEvent {
  id: string;
  created_at: string;
  type: string;
  object: unknown;
  webhook_id: string;
}

export interface Batch {
  /** Increasing per simulator, in the order batches were formed. */
  seq: number;
  webhookId: string;
  events: WebhookEvent[];
  body: Buffer;
}

export interface DeliveryAttempt {
  webhookId: string;
  batch: number;
  /** 1 for the first try of a delivery. */
  attempt: number;
  /** Size of the envelope. */
  bytes: number;
  events: Array<{ id: string; type: string; createdAt: string; objectId: string | undefined }>;
  /** The answer's status; 0 when there was none (refused, reset, timeout). */
  status: number;
  error?: string;
  /** Switches applied to this attempt. */
  switches: string[];
  /** Wall-clock ms when the attempt was sent (for tests that time how long a delivery took). */
  sentAtMs: number;
  /** When this attempt failed: the wait before the next one, in time units. */
  retryInUnits?: number;
}

/** What one attempt sends and how; implemented by webhook-transport.ts. */
export type Deliver = (subscription: Subscription, batch: Batch, attempt: number) => Promise<{ status: number; error?: string; switches: string[] }>;

export interface Scheduler {
  /** Runs `run` after `ms`; returns a cancel function. */
  after(ms: number, run: () => void): () => void;
}

/** The wait before retry n (1-based), in time units: 1, 2, 3, 5, 8, 13 … capped at 600. */
export function retryDelayUnits(retry: number): number {
  let previous = 1;
  let current = 1;
  for (let k = 1; k < retry; k++) [previous, current] = [current, previous + current];
  return Math.min(600, retry === 1 ? 1 : current);
}

export function envelope(events: readonly WebhookEvent[]): Buffer {
  return Buffer.from(`{"payload":[${events.map((e) => JSON.stringify(e)).join(',')}]}`, 'utf8');
}

let batchSeq = 0;
const EMPTY_ENVELOPE_BYTES = envelope([]).length;

/** One subscription's queue. */
export class Outbox {
  private pending: WebhookEvent[] = [];
  private readonly queue: Batch[] = [];
  private collecting: (() => void) | undefined;
  private busy = false;
  private closed = false;
  private retryTimer: (() => void) | undefined;

  constructor(
    private readonly subscription: () => Subscription | undefined,
    private readonly deps: {
      deliver: Deliver;
      scheduler: Scheduler;
      unitMs: number;
      switches: WebhookSwitches;
      record: (attempt: DeliveryAttempt) => void;
    },
  ) {}

  /** Events waiting to be batched or delivered. */
  get backlog(): number {
    return this.pending.length + this.queue.reduce((n, b) => n + b.events.length, 0);
  }

  add(event: WebhookEvent): void {
    this.pending.push(event);
    const subscription = this.subscription();
    if (this.collecting || !subscription) return;
    this.collecting = this.deps.scheduler.after(delaySeconds(subscription.config.delay) * this.deps.unitMs, () => {
      this.collecting = undefined;
      this.cut();
      this.pump();
    });
  }

  /** A test delivery: its own batch, sent as soon as the queue allows. */
  addBatch(events: WebhookEvent[]): void {
    this.queue.push({ seq: ++batchSeq, webhookId: events[0]!.webhook_id, events, body: envelope(events) });
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.collecting?.();
    this.retryTimer?.();
  }

  private cut(): void {
    const subscription = this.subscription();
    if (!subscription) return;
    const events = [...this.pending].sort((a, b) => compareCreatedAt(a.created_at, b.created_at));
    this.pending = [];
    const max = subscription.config.max_package_size;
    // The envelope's size is summed as it grows, each event serialized once: a burst of
    // thousands of events is cut in linear time.
    let current: WebhookEvent[] = [];
    let texts: string[] = [];
    let size = EMPTY_ENVELOPE_BYTES;
    const push = () => {
      const body = Buffer.from(`{"payload":[${texts.join(',')}]}`, 'utf8');
      this.queue.push({ seq: ++batchSeq, webhookId: subscription.id, events: current, body });
    };
    for (const event of events) {
      const text = JSON.stringify(event);
      const bytes = Buffer.byteLength(text);
      if (current.length > 0 && size + 1 + bytes > max) {
        push();
        current = [];
        texts = [];
        size = EMPTY_ENVELOPE_BYTES;
      }
      size += bytes + (current.length > 0 ? 1 : 0);
      current.push(event);
      texts.push(text);
    }
    if (current.length > 0) push();
  }

  private pump(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    if (this.deps.switches.peekBatch('reorder')) {
      if (this.queue.length < 2) return; // held back until a later delivery can overtake it
      this.deps.switches.takeBatch('reorder');
      [this.queue[0], this.queue[1]] = [this.queue[1]!, this.queue[0]!];
    }
    this.busy = true;
    void this.attempt(this.queue[0]!, 1);
  }

  private async attempt(batch: Batch, attempt: number): Promise<void> {
    const subscription = this.subscription();
    if (!subscription || this.closed) {
      this.busy = false;
      return;
    }
    const sentAtMs = Date.now();
    const outcome = await this.deps.deliver(subscription, batch, attempt);
    if (this.closed) return;
    const record: DeliveryAttempt = {
      webhookId: batch.webhookId,
      batch: batch.seq,
      attempt,
      bytes: batch.body.length,
      events: batch.events.map((e) => ({
        id: e.id,
        type: e.type,
        createdAt: e.created_at,
        objectId: typeof (e.object as { id?: unknown } | null)?.id === 'string' ? (e.object as { id: string }).id : undefined,
      })),
      status: outcome.status,
      switches: outcome.switches,
      sentAtMs,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
    };
    if (outcome.status === 200) {
      this.queue.shift();
      if (attempt === 1 && this.deps.switches.takeBatch('duplicate')) this.queue.unshift({ ...batch, seq: ++batchSeq });
      this.busy = false;
      this.deps.record(record);
      this.pump();
      return;
    }
    const units = retryDelayUnits(attempt);
    record.retryInUnits = units;
    this.deps.record(record);
    this.retryTimer = this.deps.scheduler.after(units * this.deps.unitMs, () => {
      this.retryTimer = undefined;
      void this.attempt(batch, attempt + 1);
    });
  }
}

/** Orders RFC 3339 UTC timestamps with fractions of any length. */
export function compareCreatedAt(a: string, b: string): number {
  const split = (s: string) => {
    const match = /^(.*?:\d{2})(?:\.(\d+))?Z$/i.exec(s);
    return match ? [match[1]!, (match[2] ?? '').padEnd(9, '0')] : [s, ''];
  };
  const [ah, af] = split(a);
  const [bh, bf] = split(b);
  return ah! < bh! ? -1 : ah! > bh! ? 1 : af! < bf! ? -1 : af! > bf! ? 1 : 0;
}

/** A timestamp with nanoseconds, trailing zeros dropped, as Go's RFC3339Nano prints it. */
export function formatNanos(epochMicros: number, extraNanos = randomInt(0, 1000)): string {
  const seconds = Math.floor(epochMicros / 1_000_000);
  const nanos = (epochMicros - seconds * 1_000_000) * 1000 + extraNanos;
  const head = new Date(seconds * 1000).toISOString().slice(0, 19);
  if (nanos === 0) return `${head}Z`;
  return `${head}.${String(nanos).padStart(9, '0').replace(/0+$/, '')}Z`;
}
