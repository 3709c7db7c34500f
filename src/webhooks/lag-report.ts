// How fresh the webhook path keeps the mirror, alike for `account-sync status` and the status
// page: the last event applied and how long after Upvest created it (its lag, processed_at −
// created_at), the lag over the last hour, what is still pending, and what was rejected in the
// last hour (migration webhook_rejected's partial index). One statement, on the
// partial indexes of migrations webhook_events and webhook_lag, so that the status page can
// read it on every poll however many events the table holds. The last hour's lags are those of
// its newest LAG_SAMPLE events at most: sorting the lags is what costs, and a burst of a
// hundred thousand events in an hour would otherwise make every poll slow.
import type { Db } from '../db/prisma.js';
import { utcText } from '../runs/sql/runs.js';
import { NOT_OURS_REASON } from './our-subscriptions.js';

export interface WebhookLag {
  /** The event applied last (the newest processed_at; within one transaction, the newest created_at). */
  lastApplied: {
    eventId: string;
    type: string;
    /** The account it was about. */
    accountId: string | null;
    /** When Upvest created the event (for a change the simulator or Upvest made: when it was made). */
    createdAt: string;
    /** When it was applied: the start of the transaction that wrote it to the mirror. */
    processedAt: string;
    /** processedAt − createdAt (0 when Upvest's clock is ahead of ours). */
    lagMs: number;
    /** now − processedAt. */
    ageMs: number;
  } | null;
  /**
   * Events applied within the hour before now, and their lags (of the newest LAG_SAMPLE of
   * them when there were more); null figures when there were none.
   */
  lastHour: { applied: number; p50Ms: number | null; p95Ms: number | null; maxMs: number | null };
  /** Stored and not applied yet; the oldest of them by created_at. */
  pending: { events: number; oldestCreatedAt: string | null; oldestAgeMs: number | null };
  /** Events rejected within the hour before now, and of them those not from this tenant's subscriptions. */
  rejectedLastHour: { events: number; notOurs: number };
}

/** The last hour's lags are those of its newest events, this many at most. */
export const LAG_SAMPLE = 10_000;

interface Row {
  any: boolean;
  event_id: string | null;
  type: string | null;
  object_id: string | null;
  created_at: string | null;
  processed_at: string | null;
  lag_ms: number | null;
  age_ms: number | null;
  hour_applied: number;
  p50_ms: number | null;
  p95_ms: number | null;
  max_ms: number | null;
  pending: number;
  oldest_pending: string | null;
  oldest_pending_age_ms: number | null;
  rejected: number;
  not_ours: number;
}

/** The webhook path's freshness at `now`; null while webhook_events has no row (webhooks are not in use). */
export async function readWebhookLag(db: Db, now: Date): Promise<WebhookLag | null> {
  const [row] = await db.$queryRaw<Row[]>`
    WITH last AS (
      SELECT event_id, type, object_id, created_at, processed_at
      FROM webhook_events
      WHERE outcome = 'applied'
      ORDER BY processed_at DESC, created_at DESC, seq DESC
      LIMIT 1
    ), hour AS (
      SELECT greatest(0, date_part('epoch', processed_at - created_at) * 1000) AS lag_ms
      FROM webhook_events
      WHERE outcome = 'applied' AND processed_at > ${now}::timestamptz - interval '1 hour'
      ORDER BY processed_at DESC, created_at DESC, seq DESC
      LIMIT ${LAG_SAMPLE}
    ), lags AS (
      SELECT (SELECT count(*)::int FROM webhook_events
              WHERE outcome = 'applied' AND processed_at > ${now}::timestamptz - interval '1 hour') AS applied,
             percentile_disc(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY lag_ms) AS percentiles,
             max(lag_ms) AS max_ms
      FROM hour
    ), pending AS (
      SELECT count(*)::int AS events, min(created_at) AS oldest
      FROM webhook_events
      WHERE outcome IS NULL
    ), rejected AS (
      SELECT count(*)::int AS events, count(*) FILTER (WHERE starts_with(reason, ${NOT_OURS_REASON}))::int AS not_ours
      FROM webhook_events
      WHERE outcome = 'rejected' AND processed_at > ${now}::timestamptz - interval '1 hour'
    )
    SELECT EXISTS (SELECT 1 FROM webhook_events) AS any,
           l.event_id::text AS event_id, l.type, l.object_id,
           ${utcText('l.created_at')} AS created_at, ${utcText('l.processed_at')} AS processed_at,
           greatest(0, date_part('epoch', l.processed_at - l.created_at) * 1000) AS lag_ms,
           greatest(0, date_part('epoch', ${now}::timestamptz - l.processed_at) * 1000) AS age_ms,
           h.applied AS hour_applied, h.percentiles[1] AS p50_ms, h.percentiles[2] AS p95_ms, h.max_ms,
           p.events AS pending, ${utcText('p.oldest')} AS oldest_pending,
           greatest(0, date_part('epoch', ${now}::timestamptz - p.oldest) * 1000) AS oldest_pending_age_ms,
           r.events AS rejected, r.not_ours
    FROM lags h CROSS JOIN pending p CROSS JOIN rejected r LEFT JOIN last l ON true`;
  if (!row?.any) return null;
  const ms = (value: number | null) => (value === null ? null : Math.round(value));
  return {
    lastApplied:
      row.event_id === null
        ? null
        : {
            eventId: row.event_id,
            type: row.type ?? '',
            accountId: row.object_id,
            createdAt: row.created_at!,
            processedAt: row.processed_at!,
            lagMs: ms(row.lag_ms)!,
            ageMs: ms(row.age_ms)!,
          },
    lastHour: { applied: row.hour_applied, p50Ms: ms(row.p50_ms), p95Ms: ms(row.p95_ms), maxMs: ms(row.max_ms) },
    pending: { events: row.pending, oldestCreatedAt: row.oldest_pending, oldestAgeMs: ms(row.oldest_pending_age_ms) },
    rejectedLastHour: { events: row.rejected, notOurs: row.not_ours },
  };
}
