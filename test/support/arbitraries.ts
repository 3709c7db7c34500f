// fast-check arbitraries of account records as a server might serve them: valid ones with any
// Unicode, boundary numbers and lengths, timestamps with 0 to 9 fraction digits and any offset
// PostgreSQL takes, extra fields; and invalid ones, each with the mutation that makes it so.
// Whether a record is valid is decided here, by the generator, not by the code under test.
import fc from 'fast-check';

/** Text PostgreSQL stores as it is: astral characters, combining marks, quotes, backslashes. */
const SPECIAL = ['"', '\\', "'", '\\u0000', 'e\u0301', '\u0301', '😀', '\u{10FFFF}', '\u200B', '\uFEFF', '\r\n', '\t', 'Ωμέγα', '日本', ' '];

function text(maxLength: number, minLength = 0): fc.Arbitrary<string> {
  return fc
    .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.constantFrom(...SPECIAL)), { maxLength: 6 })
    .map((parts) => parts.join('').replaceAll('\u0000', ''))
    .filter((value) => value.length >= minLength && value.length <= maxLength);
}

const label = fc.oneof({ arbitrary: text(100, 1), weight: 5 }, { arbitrary: fc.constant('L'.repeat(100)), weight: 1 });
const name = fc.oneof({ arbitrary: text(1000), weight: 5 }, { arbitrary: fc.constant('n'.repeat(1000)), weight: 1 });

/** UUIDs in any case (stored lower case). */
const uuid = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()));

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** RFC 3339 date-times PostgreSQL accepts: years 1 to 9999, 0 to 9 fraction digits, offsets up to ±15:59. */
export const timestamp = fc
  .record({
    year: fc.oneof(fc.integer({ min: 1, max: 9999 }), fc.constantFrom(1, 1970, 2000, 2024, 9999)),
    month: fc.integer({ min: 1, max: 12 }),
    day: fc.integer({ min: 1, max: 31 }),
    hour: fc.integer({ min: 0, max: 23 }),
    minute: fc.integer({ min: 0, max: 59 }),
    second: fc.integer({ min: 0, max: 59 }),
    fraction: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9]{1,9}$/)),
    separator: fc.constantFrom('T', 't', ' '),
    zone: fc.oneof(
      fc.constantFrom('Z', 'z', '+00:00', '-00:00'),
      fc.record({ sign: fc.constantFrom('+', '-'), h: fc.integer({ min: 0, max: 15 }), m: fc.integer({ min: 0, max: 59 }) }).map(
        (z) => `${z.sign}${pad(z.h)}:${pad(z.m)}`,
      ),
    ),
  })
  .map((t) => {
    const leap = t.year % 4 === 0 && (t.year % 100 !== 0 || t.year % 400 === 0);
    const day = Math.min(t.day, t.month === 2 && !leap ? 28 : DAYS[t.month - 1]!);
    return `${pad(t.year, 4)}-${pad(t.month)}-${pad(day)}${t.separator}${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${
      t.fraction ? `.${t.fraction}` : ''
    }${t.zone}`;
  });

const accountNumber = fc.oneof(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(1, 2, Number.MAX_SAFE_INTEGER));

/** Fields Upvest may add tomorrow: tolerated and ignored. */
const extra = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number', '__proto__'].includes(k)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 2 },
);

export type Served = Record<string, unknown>;

/** A valid record, its id drawn from `ids` (so that ids repeat within and across pages). */
export function validRecord(ids: fc.Arbitrary<string>): fc.Arbitrary<Served> {
  return fc
    .record({
      id: ids,
      created_at: timestamp,
      updated_at: timestamp,
      account_group_id: uuid,
      type: label,
      users: fc.array(fc.record({ id: uuid, type: label }), { maxLength: 3 }),
      name,
      status: label,
      account_number: accountNumber,
      extra,
    })
    .map(({ extra: more, ...record }) => ({ ...more, ...record }));
}

const INVALID: Array<{ why: string; make: (r: Served) => unknown }> = [
  { why: 'field missing', make: ({ name: _n, ...r }) => r },
  { why: 'users missing', make: ({ users: _u, ...r }) => r },
  { why: 'name not a string', make: (r) => ({ ...r, name: 42 }) },
  { why: 'id not a UUID', make: (r) => ({ ...r, id: 'ORDER-42' }) },
  { why: 'id missing', make: ({ id: _i, ...r }) => r },
  { why: 'NUL in name', make: (r) => ({ ...r, name: 'a\u0000b' }) },
  { why: 'lone surrogate in status', make: (r) => ({ ...r, status: 'A\uD800' }) },
  { why: 'lone low surrogate in user type', make: (r) => ({ ...r, users: [{ id: '00000000-0000-4000-8000-000000000001', type: '\uDC00x' }] }) },
  { why: 'name too long', make: (r) => ({ ...r, name: 'n'.repeat(1001) }) },
  { why: 'status too long', make: (r) => ({ ...r, status: 'S'.repeat(101) }) },
  { why: 'empty type', make: (r) => ({ ...r, type: '' }) },
  { why: 'account_number 0', make: (r) => ({ ...r, account_number: 0 }) },
  { why: 'account_number fractional', make: (r) => ({ ...r, account_number: 1.5 }) },
  { why: 'account_number 2^53', make: (r) => ({ ...r, account_number: 2 ** 53 }) },
  { why: 'account_number as text', make: (r) => ({ ...r, account_number: '12' }) },
  { why: 'ten fraction digits', make: (r) => ({ ...r, updated_at: '2024-01-01T00:00:00.1234567890Z' }) },
  { why: 'offset beyond 15:59', make: (r) => ({ ...r, created_at: '2024-01-01T00:00:00+16:00' }) },
  { why: 'February 30th', make: (r) => ({ ...r, updated_at: '2023-02-29T00:00:00Z' }) },
  { why: 'year 0', make: (r) => ({ ...r, created_at: '0000-01-01T00:00:00Z' }) },
  { why: 'date without time', make: (r) => ({ ...r, updated_at: '2024-01-01' }) },
  { why: 'too many users', make: (r) => ({ ...r, users: Array.from({ length: 101 }, (_, i) => ({ id: `00000000-0000-4000-8000-${pad(i, 12)}`, type: 'OWNER' })) }) },
  { why: 'not an object', make: () => 'account' },
  { why: 'null', make: () => null },
  { why: 'an array', make: (r) => [r] },
];

export function invalidRecord(ids: fc.Arbitrary<string>): fc.Arbitrary<{ raw: unknown; why: string }> {
  return fc.tuple(validRecord(ids), fc.constantFrom(...INVALID)).map(([record, mutation]) => ({ raw: mutation.make(record), why: mutation.why }));
}

export interface ServedRecord {
  raw: unknown;
  /** Why the generator made it invalid; undefined for a valid record. */
  invalid?: string;
}

/**
 * Another version of a record, updated within the same millisecond: only the digits past the
 * third of the fraction differ (a JavaScript Date cannot tell the two apart).
 */
function sameMillisecond(record: Served): fc.Arbitrary<Served> {
  return fc.tuple(fc.stringMatching(/^[0-9]{1,6}$/), name, label).map(([digits, newName, newStatus]) => {
    const updated = String(record.updated_at);
    const match = /^(.*\d{2}:\d{2}:\d{2})(?:\.(\d*))?(.*)$/.exec(updated)!;
    const millis = (match[2] ?? '').slice(0, 3).padEnd(3, '0');
    return { ...record, name: newName, status: newStatus, updated_at: `${match[1]}.${millis}${digits}${match[3]}` };
  });
}

/** Pages of valid and invalid records whose ids repeat within and across pages. */
export function pagesOfRecords(): fc.Arbitrary<ServedRecord[][]> {
  return fc.uniqueArray(fc.uuid(), { minLength: 3, maxLength: 8 }).chain((pool) => {
    const ids = fc.oneof({ arbitrary: fc.constantFrom(...pool), weight: 3 }, { arbitrary: uuid, weight: 1 });
    const valid = validRecord(ids);
    const record = fc.oneof(
      { arbitrary: valid.map((raw): ServedRecord[] => [{ raw }]), weight: 4 },
      // Two versions of one account on one page, a microsecond or so apart.
      { arbitrary: valid.chain((raw) => sameMillisecond(raw).map((other): ServedRecord[] => [{ raw }, { raw: other }])), weight: 1 },
      { arbitrary: invalidRecord(ids).map(({ raw, why }): ServedRecord[] => [{ raw, invalid: why }]), weight: 1 },
    );
    return fc.array(fc.array(record, { maxLength: 8 }).map((groups) => groups.flat()), { minLength: 1, maxLength: 4 });
  });
}
