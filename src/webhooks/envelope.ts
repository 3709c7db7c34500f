// A verified delivery's body turned into rows to store. Nothing here refuses a delivery: an
// event that is unusable (no id, no type, a created_at that is no RFC 3339 date-time) is kept
// as a rejected row, and a body that is no `{"payload": [...]}` envelope becomes one rejected
// row, because any non-200 would only make Upvest hold back every later delivery.
import { createHash } from 'node:crypto';

export interface IntakeEvent {
  dedupeKey: string;
  eventId: string | null;
  webhookId: string | null;
  type: string | null;
  objectId: string | null;
  createdAtRaw: string | null;
  /** created_at truncated to microseconds, in a form PostgreSQL parses exactly. */
  createdAtMicros: string | null;
  createdAtNanos: number | null;
  raw: unknown;
  /** Set when the event is rejected at intake. */
  rejection: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RFC3339 = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The events of a delivery, in the order they were sent (duplicates within it included). */
export function parseEnvelope(body: Buffer): IntakeEvent[] {
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [wholeBody(body, text, 'the body is not JSON')];
  }
  const payload = (parsed as { payload?: unknown } | null)?.payload;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Array.isArray(payload)) {
    return [wholeBody(body, text, 'the body is not an envelope {"payload": [...]}')];
  }
  return payload.map(intakeEvent);
}

function wholeBody(body: Buffer, text: string, reason: string): IntakeEvent {
  return {
    dedupeKey: `body-sha256:${sha256(body)}`,
    eventId: null,
    webhookId: null,
    type: null,
    objectId: null,
    createdAtRaw: null,
    createdAtMicros: null,
    createdAtNanos: null,
    // Text PostgreSQL cannot hold (NUL) is kept as base64.
    raw: text.includes('\u0000') ? { base64: body.toString('base64') } : text,
    rejection: reason,
  };
}

export function intakeEvent(value: unknown): IntakeEvent {
  const event = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const text = (key: string) => (typeof event?.[key] === 'string' ? (event[key] as string) : null);
  const id = text('id');
  const usableId = id !== null && UUID.test(id) ? id.toLowerCase() : null;
  const createdAtRaw = text('created_at');
  const time = createdAtRaw === null ? null : splitTimestamp(createdAtRaw);
  const object = event?.object as Record<string, unknown> | undefined;
  const objectId = typeof object?.id === 'string' ? object.id : null;
  const raw = stripNul(value);
  const rejection =
    event === undefined
      ? 'the event is not a JSON object'
      : usableId === null
        ? `the event has no usable id (${id === null ? 'missing' : JSON.stringify(id.slice(0, 64))})`
        : text('type') === null
          ? 'the event has no type'
          : time === null
            ? `the event's created_at is not an RFC 3339 date-time (${JSON.stringify(createdAtRaw)})`
            : null;
  return {
    dedupeKey: usableId ?? `sha256:${sha256(JSON.stringify(raw) ?? 'null')}`,
    eventId: usableId,
    webhookId: text('webhook_id'),
    type: text('type'),
    objectId,
    createdAtRaw,
    createdAtMicros: time?.micros ?? null,
    createdAtNanos: time?.nanos ?? null,
    raw,
    rejection,
  };
}

/** "…:51.980159529Z" → "…:51.980159Z" and 529. */
export function splitTimestamp(value: string): { micros: string; nanos: number } | null {
  const match = RFC3339.exec(value);
  if (!match || Number.isNaN(Date.parse(`${match[1]!.slice(0, 10)}T00:00:00Z`))) return null;
  const fraction = (match[2] ?? '').padEnd(9, '0');
  return { micros: `${match[1]}.${fraction.slice(0, 6)}${match[3]}`, nanos: Number(fraction.slice(6, 9)) };
}

// jsonb cannot hold \u0000; such characters are replaced, the event stays recognisable.
function stripNul(value: unknown): unknown {
  const json = JSON.stringify(value);
  if (json === undefined || !json.includes('\\u0000')) return value;
  return JSON.parse(json.replaceAll('\\u0000', '\\ufffd'));
}
