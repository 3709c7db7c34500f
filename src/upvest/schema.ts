// What a page of GET /accounts must look like. The envelope is checked strictly (a wrong one
// means we cannot trust the page at all); each account on its own, so one bad record is kept
// aside while the rest of its page is stored. Unknown fields and enum values are tolerated, as
// Upvest's versioning rules require.
import { z } from 'zod';

const count = z.number().int().min(0);

export const pageEnvelope = z.object({
  meta: z.object({
    offset: count,
    limit: count,
    count: count,
    total_count: count,
    sort: z.string().optional(),
    order: z.string().optional(),
  }),
  data: z.array(z.unknown()),
});

export type PageEnvelope = z.infer<typeof pageEnvelope>;

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// RFC 3339 section 5.6 date-time; fractions of any length (PostgreSQL keeps six digits).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const uuid = z.string().regex(UUID, { message: 'is not a UUID' });

// PostgreSQL text cannot hold NUL; such a value would fail the whole page's transaction.
const text = z.string().refine((value) => !value.includes('\u0000'), { message: 'contains a NUL character' });
const label = text.pipe(z.string().min(1, { message: 'is empty' }));

const timestamp = z.string().refine(isRfc3339, { message: 'is not an RFC 3339 date-time' });

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function isRfc3339(value: string): boolean {
  const match = RFC3339.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (year < 1 || month < 1 || month > 12 || Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6]) > 59) {
    return false;
  }
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day >= 1 && day <= DAYS_IN_MONTH[month - 1]! + (leap ? 1 : 0);
}

export const accountSchema = z.object({
  id: uuid,
  created_at: timestamp,
  updated_at: timestamp,
  account_group_id: uuid,
  type: label,
  users: z.array(z.object({ id: uuid, type: label })),
  name: text,
  status: label,
  account_number: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
});

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
  users: Array<{ id: string; type: string }>;
}

export interface RejectedAccount {
  /** The record's id when it has a usable one: it is still listed, so never marked deleted. */
  accountId: string | null;
  raw: unknown;
  reason: string;
}

export type AccountCheck = { ok: true; account: AccountRecord } | { ok: false; rejected: RejectedAccount };

export function checkAccount(raw: unknown): AccountCheck {
  const result = accountSchema.safeParse(raw);
  if (!result.success) {
    const reason = result.error.issues
      .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'record'} ${describe(issue, raw)}`)
      .join('; ');
    const id = raw && typeof raw === 'object' ? (raw as Record<string, unknown>).id : undefined;
    return {
      ok: false,
      rejected: { accountId: typeof id === 'string' && UUID.test(id) ? id.toLowerCase() : null, raw, reason },
    };
  }
  const a = result.data;
  // One link per user: a repeated user would break the (account_id, user_id) key.
  const users = new Map<string, string>();
  for (const user of a.users) users.set(user.id.toLowerCase(), user.type);
  return {
    ok: true,
    account: {
      id: a.id.toLowerCase(),
      accountGroupId: a.account_group_id.toLowerCase(),
      type: a.type,
      name: a.name,
      status: a.status,
      accountNumber: a.account_number,
      createdAt: a.created_at,
      updatedAt: a.updated_at,
      users: [...users].map(([id, type]) => ({ id, type })),
    },
  };
}

function describe(issue: z.core.$ZodIssue, raw: unknown): string {
  if (issue.code === 'invalid_type') {
    return valueAt(raw, issue.path) === undefined ? 'is missing' : `must be ${issue.expected}`;
  }
  return issue.message.startsWith('is ') || issue.message.startsWith('contains ') ? issue.message : `is invalid: ${issue.message}`;
}

function valueAt(root: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
