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
const RFC3339 = /^((\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2}))(?:\.(\d+))?([Zz]|[+-](\d{2}):(\d{2}))$/;

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
  // Cleaned first: one string PostgreSQL cannot hold would fail the whole delivery, and a
  // delivery that is never answered 200 holds back every later one.
  const raw = storable(value);
  const event = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : undefined;
  const text = (key: string) => (typeof event?.[key] === 'string' ? (event[key] as string) : null);
  const id = text('id');
  const usableId = id !== null && UUID.test(id) ? id.toLowerCase() : null;
  const createdAtRaw = text('created_at');
  const time = createdAtRaw === null ? null : splitTimestamp(createdAtRaw);
  const object = event?.object as Record<string, unknown> | undefined;
  // Indexed: a btree entry must stay small, and no account id is this long.
  const objectId = typeof object?.id === 'string' && object.id.length <= MAX_OBJECT_ID ? object.id : null;
  const rejection =
    event === undefined
      ? 'the event is not a JSON object'
      : usableId === null
        ? `the event has no usable id (${id === null ? 'missing' : JSON.stringify(id.slice(0, 64))})`
        : text('type') === null
          ? 'the event has no type'
          : time === null
            ? `the event's created_at is not an RFC 3339 date-time (${JSON.stringify(createdAtRaw?.slice(0, 64) ?? null)})`
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

const MAX_OBJECT_ID = 256;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** "…:51.980159529Z" → "…:51.980159Z" and 529; null unless a date-time PostgreSQL takes as is. */
export function splitTimestamp(value: string): { micros: string; nanos: number } | null {
  const match = RFC3339.exec(value);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(2, 8).map(Number) as [number, number, number, number, number, number];
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  // PostgreSQL takes offsets up to 15:59.
  if (match[10] !== undefined && (Number(match[10]) > 15 || Number(match[11]) > 59)) return null;
  const fraction = (match[8] ?? '').padEnd(9, '0');
  return { micros: `${match[1]}.${fraction.slice(0, 6)}${match[9]}`, nanos: Number(fraction.slice(6, 9)) };
}

/** The value with every key and string holdable by jsonb and text: no NUL, no lone surrogates. */
function storable(value: unknown): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [cleanText(key), storable(item)]));
  }
  return value;
}

function cleanText(text: string): string {
  return text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
