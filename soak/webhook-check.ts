// What --webhooks checks of webhook_events at the end, once every delivery has succeeded and
// every stored event has been processed:
//
// - every change upstream made after the subscription (each sends one event) is stored exactly
//   once, and every stored account event carries a version upstream really had;
// - every account event is processed: `applied` or `duplicate`, none pending, none rejected or
//   ignored (the simulator sends only valid account objects); other types (the test delivery
//   that ends the soak) are `ignored`;
// - and it decides which versions were overtaken (history-check.ts): an event marked
//   `duplicate` whose account the mirror had, by evidence the soak gathered itself, already
//   moved past: a strictly newer version was applied from an event processed earlier (in an
//   earlier transaction: within one, an account's events apply oldest first), or was delivered
//   to a `sync` (a page or a lookup) no later than SYNC_WRITE_SLACK_MS after the event was
//   processed. Any other duplicate is no excuse: its status must show.
import type { Client } from 'pg';
import type { Reads } from './reads.js';
import { canonicalTime, type Upstream } from './upstream.js';

/**
 * A sync that was delivered a version before the applier processed an older event may commit
 * it after processed_at (taken when the apply transaction began) and before the event's write:
 * the write then waits on that page transaction's row lock and finds the newer version. A page
 * transaction of the soak takes well under this, also on two busy cores.
 */
export const SYNC_WRITE_SLACK_MS = 10_000;

export interface StoredEvent {
  eventId: string | null;
  type: string | null;
  objectId: string | null;
  /** The version the event's object carries (canonicalTime), if it has one. */
  updatedAt: string | null;
  outcome: string | null;
  reason: string | null;
  processedAt: number | null;
  deliveries: number;
}

export async function loadEvents(db: Client): Promise<StoredEvent[]> {
  const { rows } = await db.query<{
    event_id: string | null;
    type: string | null;
    object_id: string | null;
    updated_at: string | null;
    outcome: string | null;
    reason: string | null;
    processed_ms: number | null;
    deliveries: number;
  }>(`
    SELECT event_id::text, type, object_id, raw->'object'->>'updated_at' AS updated_at, outcome, reason,
           (extract(epoch FROM processed_at) * 1000)::float8 AS processed_ms, deliveries
    FROM webhook_events ORDER BY seq`);
  return rows.map((r) => ({
    eventId: r.event_id,
    type: r.type,
    objectId: r.object_id,
    updatedAt: canonicalOrNull(r.updated_at),
    outcome: r.outcome,
    reason: r.reason,
    processedAt: r.processed_ms,
    deliveries: r.deliveries,
  }));
}

function canonicalOrNull(value: string | null): string | null {
  if (value === null) return null;
  try {
    return canonicalTime(value);
  } catch {
    return value;
  }
}

const key = (id: string, updatedAt: string) => `${id} ${updatedAt}`;

export interface EventFindings {
  mismatches: string[];
  byOutcome: Record<string, number>;
  stored: number;
  /** Events delivered more than once, and the deliveries beyond the first. */
  redeliveredEvents: number;
  redeliveries: number;
  /** Account events, by the version they carry. */
  byVersion: Map<string, StoredEvent>;
}

/** `since`: when the subscription was made; every version upstream made from then on sent an event. */
export function checkEvents(events: StoredEvent[], upstream: Upstream, since: number): EventFindings {
  const found: string[] = [];
  const byOutcome: Record<string, number> = {};
  const byVersion = new Map<string, StoredEvent>();
  let redeliveredEvents = 0;
  let redeliveries = 0;
  for (const event of events) {
    const outcome = event.outcome ?? 'pending';
    byOutcome[outcome] = (byOutcome[outcome] ?? 0) + 1;
    if (event.deliveries > 1) redeliveredEvents += 1;
    redeliveries += event.deliveries - 1;
    const say = (what: string) => found.push(`event ${event.eventId} (${event.type} of ${event.objectId} at ${event.updatedAt}): ${what}`);
    if (!event.type?.startsWith('ACCOUNT.')) {
      if (outcome !== 'ignored') say(`not an account event, yet ${outcome}`);
      continue;
    }
    if (outcome !== 'applied' && outcome !== 'duplicate') say(`${outcome}${event.reason ? ` (${event.reason})` : ''}`);
    if (event.objectId === null || event.updatedAt === null || !upstream.byUpdatedAt(event.objectId, event.updatedAt)) {
      say('carries no version upstream ever had');
      continue;
    }
    const k = key(event.objectId, event.updatedAt);
    if (byVersion.has(k)) say(`a second event for one upstream version (the first: ${byVersion.get(k)!.eventId})`);
    else byVersion.set(k, event);
  }
  for (const id of upstream.ids()) {
    for (const version of upstream.history(id)) {
      if (version.at >= since && !byVersion.has(key(id, version.updatedAt))) {
        found.push(`account ${id}: upstream made version ${version.updatedAt} (${version.status}), and no event of it was stored`);
      }
    }
  }
  return { mismatches: found, byOutcome, stored: events.length, redeliveredEvents, redeliveries, byVersion };
}

/**
 * Whether the mirror had moved past `version` before its event was applied (see the header);
 * counts what it excused.
 */
export function overtakenJudge(upstream: Upstream, byVersion: Map<string, StoredEvent>, reads: Reads) {
  const excused = { byEvent: 0, bySync: 0 };
  const overtaken = (id: string, v: { updatedAt: string }): boolean => {
    const event = byVersion.get(key(id, v.updatedAt));
    if (!event || event.outcome !== 'duplicate' || event.processedAt === null) return false;
    const processed = event.processedAt;
    for (const w of upstream.history(id)) {
      if (w.updatedAt <= v.updatedAt) continue;
      const later = byVersion.get(key(w.id, w.updatedAt));
      if (later?.outcome === 'applied' && later.processedAt !== null && later.processedAt < processed) {
        excused.byEvent += 1;
        return true;
      }
      const read = reads.deliveredAt(w.id, w.updatedAt);
      if (read !== undefined && read <= processed + SYNC_WRITE_SLACK_MS) {
        excused.bySync += 1;
        return true;
      }
    }
    return false;
  };
  return { overtaken, excused };
}
