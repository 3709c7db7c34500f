// The webhook_events table: the receiver stores a delivery's events in one statement (one
// transaction), each once by its dedupe key, counting re-deliveries; the applier claims
// pending events oldest first and records what became of them.
import type { PrismaClient } from '../db/prisma.js';
import { jsonbString } from '../runs/kept-aside.js';
import type { IntakeEvent } from './envelope.js';

/** NOTIFY channel of every transaction that stored new events (payload: {"stored": n}). */
export const WEBHOOK_EVENTS_CHANNEL = 'webhook_events';

export type EventOutcome = 'applied' | 'duplicate' | 'ignored' | 'rejected';

export interface StoredBatch {
  /** Events stored for the first time. */
  stored: number;
  /** Events already stored before (their delivery count went up). */
  redelivered: number;
  /** Of the stored ones, rejected at intake. */
  rejected: number;
}

type Db = PrismaClient | Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** Stores a delivery; resolves only after the transaction committed. */
export async function storeDelivery(
  prisma: PrismaClient,
  events: readonly IntakeEvent[],
  delivery: { keyId: string; receivedAt: Date },
): Promise<StoredBatch> {
  if (events.length === 0) return { stored: 0, redelivered: 0, rejected: 0 };
  // One row per key: a statement may not touch a row twice, and the same event twice in one
  // delivery is a re-delivery like any other. New rows get their seq in delivery order.
  const rows = new Map<string, { event: IntakeEvent; copies: number }>();
  for (const event of events) {
    const row = rows.get(event.dedupeKey);
    if (row) row.copies++;
    else rows.set(event.dedupeKey, { event, copies: 1 });
  }
  const at = delivery.receivedAt.toISOString();
  const records = [...rows.values()].map(({ event, copies }, ordinal) => ({
    ordinal,
    dedupe_key: event.dedupeKey,
    event_id: event.eventId,
    webhook_id: event.webhookId,
    type: event.type,
    object_id: event.objectId,
    created_at_raw: event.createdAtRaw,
    created_at: event.createdAtMicros,
    created_at_nanos: event.createdAtNanos,
    raw: event.raw,
    outcome: event.rejection === null ? null : 'rejected',
    reason: event.rejection,
    copies,
  }));
  const [written] = await prisma.$transaction([
    prisma.$queryRaw<Array<{ inserted: boolean; rejected: boolean }>>`
      INSERT INTO webhook_events AS w (dedupe_key, event_id, webhook_id, type, object_id, created_at_raw, created_at,
                                       created_at_nanos, raw, key_id, received_at, last_received_at, deliveries,
                                       outcome, reason, processed_at)
      SELECT r.dedupe_key, r.event_id, r.webhook_id, r.type, r.object_id, r.created_at_raw, r.created_at,
             r.created_at_nanos, r.raw, ${delivery.keyId}, ${at}::timestamptz, ${at}::timestamptz, r.copies,
             r.outcome, r.reason, CASE WHEN r.outcome IS NULL THEN NULL ELSE ${at}::timestamptz END
      FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(
        dedupe_key text, event_id uuid, webhook_id text, type text, object_id text, created_at_raw text,
        created_at timestamptz, created_at_nanos smallint, raw jsonb, outcome text, reason text, copies int, ordinal int)
      ORDER BY r.ordinal
      ON CONFLICT (dedupe_key) DO UPDATE
        SET deliveries = w.deliveries + EXCLUDED.deliveries,
            last_received_at = EXCLUDED.last_received_at
      RETURNING (xmax = 0) AS inserted, outcome IS NOT NULL AND xmax = 0 AS rejected`,
    prisma.$executeRaw`SELECT pg_notify(${WEBHOOK_EVENTS_CHANNEL}, json_build_object('received', ${records.length}::int)::text)`,
  ]);
  const stored = written.filter((row) => row.inserted).length;
  return { stored, redelivered: events.length - stored, rejected: written.filter((row) => row.rejected).length };
}

export interface PendingEvent {
  seq: bigint;
  eventId: string;
  webhookId: string | null;
  type: string;
  objectId: string | null;
  /** created_at exactly as sent. */
  createdAt: string;
  raw: unknown;
  receivedAt: Date;
  deliveries: number;
}

/**
 * The subscriptions the next `limit` pending events came through (oldest created_at first, as
 * they would be claimed), each with the latest time one of them was received; events of the
 * `waiting` subscriptions left out. Read before an apply, outside its transaction, so that the
 * subscriptions can be looked up at Upvest without holding the apply lock.
 */
export async function pendingSubscriptions(db: Db, limit: number, waiting: readonly string[] = []): Promise<Array<{ webhookId: string | null; receivedAt: Date }>> {
  const rows = await db.$queryRaw<Array<{ webhook_id: string | null; received_at: Date }>>`
    SELECT webhook_id, max(received_at) AS received_at
    FROM (SELECT webhook_id, received_at FROM webhook_events
          WHERE outcome IS NULL AND (webhook_id IS NULL OR webhook_id <> ALL(${waiting}::text[]))
          ORDER BY created_at, created_at_nanos, seq
          LIMIT ${limit}) AS head
    GROUP BY webhook_id`;
  return rows.map((row) => ({ webhookId: row.webhook_id, receivedAt: row.received_at }));
}

/**
 * Up to `limit` pending events, oldest created_at first (nanoseconds included), locked for
 * the calling transaction; events another transaction holds are skipped, so several appliers
 * can run at once, and so are those of the `waiting` subscriptions (not known yet to be ours or
 * not). Call inside prisma.$transaction and mark each event before it commits.
 */
export async function claimPendingEvents(tx: Db, limit: number, waiting: readonly string[] = []): Promise<PendingEvent[]> {
  const rows = await tx.$queryRaw<
    Array<{ seq: bigint; event_id: string; webhook_id: string | null; type: string; object_id: string | null; created_at_raw: string; raw: unknown; received_at: Date; deliveries: number }>
  >`
    SELECT seq, event_id::text, webhook_id, type, object_id, created_at_raw, raw, received_at, deliveries
    FROM webhook_events
    WHERE outcome IS NULL AND (webhook_id IS NULL OR webhook_id <> ALL(${waiting}::text[]))
    ORDER BY created_at, created_at_nanos, seq
    LIMIT ${limit}
    FOR UPDATE SKIP LOCKED`;
  return rows.map((row) => ({
    seq: row.seq,
    eventId: row.event_id,
    webhookId: row.webhook_id,
    type: row.type,
    objectId: row.object_id,
    createdAt: row.created_at_raw,
    raw: row.raw,
    receivedAt: row.received_at,
    deliveries: row.deliveries,
  }));
}

/** Records what became of claimed events. */
export async function markEvents(
  tx: Db,
  marks: ReadonlyArray<{ seq: bigint; outcome: EventOutcome; reason?: string | null }>,
  at: Date = new Date(),
): Promise<void> {
  if (marks.length === 0) return;
  const json = JSON.stringify(marks.map((m) => ({ seq: m.seq.toString(), outcome: m.outcome, reason: m.reason ?? null })));
  await tx.$executeRaw`
    UPDATE webhook_events AS w SET outcome = m.outcome, reason = m.reason, processed_at = ${at}
    FROM jsonb_to_recordset(${json}::jsonb) AS m(seq bigint, outcome text, reason text)
    WHERE w.seq = m.seq`;
}

/** Account objects that failed validation, kept aside in rejected_records with their event's id. */
export async function keepAsideEventObjects(
  tx: Db,
  rejects: ReadonlyArray<{ eventId: string; accountId: string | null; rawJson: string; rawTruncated: boolean; reason: string }>,
): Promise<void> {
  if (rejects.length === 0) return;
  // Built as text: each raw object is already JSON text jsonb accepts (runs/kept-aside.ts).
  const json = `[${rejects
    .map(
      (r) =>
        `{"event_id":${jsonbString(r.eventId)},"account_id":${r.accountId === null ? 'null' : jsonbString(r.accountId)},` +
        `"reason":${jsonbString(r.reason)},"raw_truncated":${r.rawTruncated},"raw":${r.rawJson}}`,
    )
    .join(',')}]`;
  await tx.$executeRaw`
    INSERT INTO rejected_records (webhook_event_id, account_id, raw, raw_truncated, reason)
    SELECT r.event_id, r.account_id, coalesce(r.raw, 'null'::jsonb), r.raw_truncated, r.reason
    FROM jsonb_to_recordset(${json}::jsonb) AS r(event_id uuid, account_id text, raw jsonb, raw_truncated boolean, reason text)`;
}

/** Events stored and not applied yet. */
export async function pendingEventCount(db: Db): Promise<number> {
  return db.webhookEvent.count({ where: { outcome: null } });
}
