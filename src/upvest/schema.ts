// What a page of GET /accounts must look like. The envelope is checked strictly (a wrong one
// means we cannot trust the page at all); each account on its own, so one bad record is kept
// aside while the rest of its page is stored. Unknown fields and enum values are tolerated, as
// Upvest's versioning rules require.
//
// A record's fate is decided here, before any SQL runs: what passes is exactly what
// PostgreSQL will store (UUIDs, text without NUL or unpaired surrogates, bounded lengths,
// integers within their column, timestamps PostgreSQL accepts), so one odd record can never
// fail the statement that writes its whole page.
import { z } from 'zod';
import { ACCOUNT_FIELDS, DEFAULT_EXTRA_LIMITS, extraJsonOf, extraProblem, textProblem, unknownFieldsOf, USER_FIELDS, type ExtraLimits } from './unknown-fields.js';

export { DEFAULT_EXTRA_LIMITS, extraProblem, textProblem, type ExtraLimits };

/** INTEGER columns hold the page's numbers (sync_run_pages, sync_runs). */
const INT4_MAX = 2_147_483_647;
const count = z.number().int().min(0).max(INT4_MAX);

export const pageMeta = z.object({
  offset: count,
  limit: count,
  count: count,
  total_count: count,
  sort: z.string().optional(),
  order: z.string().optional(),
});

export const pageEnvelope = z.object({
  meta: pageMeta,
  data: z.array(z.unknown()),
});

export type PageEnvelope = z.infer<typeof pageEnvelope>;

/**
 * Bounds on every field, generous next to what Upvest documents (names up to 100 characters,
 * statuses and types are short enum values, one owner per account) so that a legitimate record
 * is never refused, yet tight enough that no value can break an index (btree entries must stay
 * under about 2.7 kB) or blow up a page.
 */
export const FIELD_LIMITS = {
  /** Characters of `name`. */
  name: 1_000,
  /** Characters of `status`, `type` and a user's `type`. */
  label: 100,
  /** Users of one account. */
  users: 100,
  /** Digits after the decimal point of a timestamp (nanoseconds, as Upvest's examples show). */
  fractionDigits: 9,
} as const;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// RFC 3339 section 5.6 date-time. PostgreSQL keeps six fraction digits and rounds the rest.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}


const uuid = z.string().regex(UUID, { message: 'is not a UUID' });

const text = (max: number) =>
  z
    .string()
    .max(max, { message: `is longer than ${max} characters` })
    .superRefine((value, ctx) => {
      const problem = textProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });
const label = text(FIELD_LIMITS.label).pipe(z.string().min(1, { message: 'is empty' }));

const timestamp = z.string().refine(isRfc3339, { message: 'is not an RFC 3339 date-time' });

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * RFC 3339 date-time, read strictly, within what PostgreSQL's timestamptz accepts: years 1 to
 * 9999, UTC offsets up to 15:59, at most nine fraction digits.
 */
export function isRfc3339(value: string): boolean {
  const match = RFC3339.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year < 1 || month < 1 || month > 12 || Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6]) > 59) {
    return false;
  }
  if ((match[7]?.length ?? 0) > FIELD_LIMITS.fractionDigits) return false;
  if (match[8] !== undefined && (Number(match[8]) > 15 || Number(match[9]) > 59)) return false;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day >= 1 && day <= DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0);
}

/** Unknown fields pass through, checked against the limits (see extraProblem). */
const withinExtraLimits = (known: ReadonlySet<string>, limits: ExtraLimits) => (value: Record<string, unknown>, ctx: z.RefinementCtx) => {
  const problem = extraProblem(unknownFieldsOf(value, known), limits);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
};

export function accountSchemaWith(limits: ExtraLimits) {
  return z
    .looseObject({
      id: uuid,
      created_at: timestamp,
      updated_at: timestamp,
      account_group_id: uuid,
      type: label,
      users: z
        .array(z.looseObject({ id: uuid, type: label }).superRefine(withinExtraLimits(USER_FIELDS, limits)))
        .max(FIELD_LIMITS.users, { message: `has more than ${FIELD_LIMITS.users} users` }),
      name: text(FIELD_LIMITS.name),
      status: label,
      // int() stays within Number.MAX_SAFE_INTEGER, well inside the BIGINT column.
      account_number: z.number().int().min(1),
    })
    .superRefine(withinExtraLimits(ACCOUNT_FIELDS, limits));
}

export const accountSchema = accountSchemaWith(DEFAULT_EXTRA_LIMITS);

export interface AccountRecord {
  id: string;
  accountGroupId: string;
  type: string;
  name: string;
  status: string;
  accountNumber: number;
  /** As Upvest sent it: a JavaScript Date would drop the microseconds. */
  createdAt: string;
  updatedAt: string;
  /** JSON text of the fields the schema does not know; null (or absent) when there are none. */
  extra?: string | null;
  users: Array<{ id: string; type: string; extra?: string | null }>;
}

export interface RejectedAccount {
  /** The record's id when it has a usable one: it is still listed, so never marked deleted. */
  accountId: string | null;
  raw: unknown;
  reason: string;
}

export type AccountCheck = { ok: true; account: AccountRecord } | { ok: false; rejected: RejectedAccount };

/** The longest reason kept: a record can fail in many places, and one line should say why. */
const MAX_REASON_LENGTH = 1_000;

export function checkAccount(raw: unknown, limits: ExtraLimits = DEFAULT_EXTRA_LIMITS): AccountCheck {
  const accepted = acceptedAccount(raw, limits);
  if (accepted) return { ok: true, account: accepted };
  const result = (limits === DEFAULT_EXTRA_LIMITS ? accountSchema : accountSchemaWith(limits)).safeParse(raw);
  if (!result.success) {
    let reason = result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'record'} ${describe(issue, raw)}`)
      .join('; ');
    if (reason.length > MAX_REASON_LENGTH) reason = `${reason.slice(0, MAX_REASON_LENGTH - 1)}…`;
    return { ok: false, rejected: { accountId: usableIdOf(raw), raw, reason } };
  }
  // Only reached should the two ever disagree: the schema is the reference.
  return { ok: true, account: recordOf(result.data) };
}

type ValidAccount = z.infer<typeof accountSchema>;

/** `a` holds every field of the record, unknown ones included. */
function recordOf(a: ValidAccount): AccountRecord {
  // One link per user: a repeated user would break the (account_id, user_id) key.
  const byUser = new Map<string, { id: string; type: string; extra: string | null }>();
  for (const user of a.users) {
    const id = user.id.toLowerCase();
    byUser.set(id, { id, type: user.type, extra: extraJsonOf(unknownFieldsOf(user, USER_FIELDS)) });
  }
  return {
    id: a.id.toLowerCase(),
    accountGroupId: a.account_group_id.toLowerCase(),
    type: a.type,
    name: a.name,
    status: a.status,
    accountNumber: a.account_number,
    createdAt: a.created_at,
    updatedAt: a.updated_at,
    extra: extraJsonOf(unknownFieldsOf(a, ACCOUNT_FIELDS)),
    users: [...byUser.values()],
  };
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isLabel = (value: unknown): value is string =>
  typeof value === 'string' && value.length >= 1 && value.length <= FIELD_LIMITS.label && textProblem(value) === undefined;
const isTimestamp = (value: unknown): value is string => typeof value === 'string' && isRfc3339(value);

/**
 * The record as an AccountRecord when accountSchema accepts it, decided without zod: nearly
 * every record is valid, and building zod's copy of each one doubled the time spent per page.
 * Exactly the schema's rules (a property test holds the two to each other); zod still says why
 * a record is refused.
 */
export function acceptedAccount(raw: unknown, limits: ExtraLimits = DEFAULT_EXTRA_LIMITS): AccountRecord | undefined {
  if (!isPlainObject(raw)) return undefined;
  const { id, created_at, updated_at, account_group_id, type, users, name, status, account_number } = raw;
  if (!isUuid(id) || !isUuid(account_group_id) || !isTimestamp(created_at) || !isTimestamp(updated_at)) return undefined;
  if (!isLabel(type) || !isLabel(status)) return undefined;
  if (typeof name !== 'string' || name.length > FIELD_LIMITS.name || textProblem(name) !== undefined) return undefined;
  if (typeof account_number !== 'number' || !Number.isSafeInteger(account_number) || account_number < 1) return undefined;
  if (!Array.isArray(users) || users.length > FIELD_LIMITS.users) return undefined;
  for (const user of users) {
    if (!isPlainObject(user) || !isUuid(user.id) || !isLabel(user.type)) return undefined;
    if (extraProblem(unknownFieldsOf(user, USER_FIELDS), limits) !== undefined) return undefined;
  }
  if (extraProblem(unknownFieldsOf(raw, ACCOUNT_FIELDS), limits) !== undefined) return undefined;
  return recordOf(raw as ValidAccount);
}

/** The record's id, lower case, when it is a UUID; null for anything else. */
export function usableIdOf(raw: unknown): string | null {
  const id = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).id : undefined;
  return isUuid(id) ? id.toLowerCase() : null;
}

function describe(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'invalid_type') {
    return valueAt(raw, issue.path) === undefined ? 'is missing' : `must be ${issue.expected}`;
  }
  return /^(is|has|contains) /.test(issue.message) ? issue.message : `is invalid: ${issue.message}`;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
