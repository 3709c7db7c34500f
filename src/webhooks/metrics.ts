// Prometheus metrics of a receiver process: deliveries by outcome, events received and applied,
// the lag from an event's created_at to its application, and what is still pending.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ApplyResult } from './apply.js';
import type { ReceiverOutcome } from './receiver.js';

export interface ReceiverMetrics {
  readonly registry: Registry;
  delivery(outcome: ReceiverOutcome): void;
  applied(result: ApplyResult): void;
  dependency(name: string, up: boolean): void;
}

export function createReceiverMetrics(sources: { pendingEvents(): Promise<number> }): ReceiverMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'account_sync_process_' });
  const registers = [registry];
  const deliveries = new Counter({
    name: 'account_sync_webhook_deliveries_total',
    help: 'Webhook deliveries answered, by HTTP status and reason ("stored" for a 200).',
    labelNames: ['status', 'reason'],
    registers,
  });
  const received = new Counter({
    name: 'account_sync_webhook_events_received_total',
    help: 'Events of accepted deliveries: stored (new), redelivered (counted, not stored again), rejected at intake.',
    labelNames: ['kind'],
    registers,
  });
  const applied = new Counter({
    name: 'account_sync_webhook_events_applied_total',
    help: 'Events applied to the mirror by outcome: applied, duplicate (the mirror already had it or newer), ignored, rejected.',
    labelNames: ['outcome'],
    registers,
  });
  const notOurs = new Counter({
    name: 'account_sync_webhook_events_not_ours_total',
    help: "Events whose webhook_id is none of this tenant's subscriptions (GET /webhooks): stored as rejected, never applied (also in applied_total{outcome=\"rejected\"}).",
    registers,
  });
  const lag = new Histogram({
    name: 'account_sync_webhook_apply_lag_seconds',
    help: "From an applied event's created_at to its application.",
    buckets: [0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600],
    registers,
  });
  new Gauge({
    name: 'account_sync_webhook_events_pending',
    help: 'Stored events not applied yet (from the database, so every receiver reports the same).',
    registers,
    async collect() {
      const pending = await sources.pendingEvents().catch(() => null);
      if (pending !== null) this.set(pending);
    },
  });
  const up = new Gauge({
    name: 'account_sync_dependency_up',
    help: '1 when the dependency answered the last readiness check.',
    labelNames: ['dependency'],
    registers,
  });
  for (const outcome of ['applied', 'duplicate', 'ignored', 'rejected']) applied.inc({ outcome }, 0);
  for (const kind of ['stored', 'redelivered', 'rejected']) received.inc({ kind }, 0);

  return {
    registry,
    delivery(outcome) {
      deliveries.inc({ status: String(outcome.status), reason: outcome.failure ?? 'stored' });
      if (outcome.batch) {
        received.inc({ kind: 'stored' }, outcome.batch.stored - outcome.batch.rejected);
        received.inc({ kind: 'rejected' }, outcome.batch.rejected);
        received.inc({ kind: 'redelivered' }, outcome.batch.redelivered);
      }
    },
    applied(result) {
      for (const [outcome, count] of Object.entries(result.byOutcome)) applied.inc({ outcome }, count);
      notOurs.inc(result.notOurs);
      for (const ms of result.lagsMs) lag.observe(ms / 1000);
    },
    dependency(name, isUp) {
      up.set({ dependency: name }, isUp ? 1 : 0);
    },
  };
}
