// Account JSON built by string concatenation: a page of 1000 must render in a few
// milliseconds. Ids are our own hex UUIDs; every other string goes through JSON.stringify.
import type { AccountFields, UserRef } from './base-accounts.js';
import { formatMicros } from './time.js';

/** An account exactly as GET /accounts serves it. */
export interface SimAccount {
  id: string;
  created_at: string;
  updated_at: string;
  account_group_id: string;
  type: string;
  users: UserRef[];
  name: string;
  status: string;
  account_number: number;
}

export function accountObject(f: AccountFields): SimAccount {
  return {
    ...f.extra,
    id: f.id,
    created_at: formatMicros(f.createdUs),
    updated_at: formatMicros(f.updatedUs),
    account_group_id: f.groupId,
    type: f.type,
    users: f.users.map((u) => ({ ...u.extra, id: u.id, type: u.type })),
    name: f.name,
    status: f.status,
    account_number: f.accountNumber,
  };
}

// The enum values recur on every account; quoting them once saves a JSON.stringify each.
const QUOTED = new Map(
  ['ACTIVE', 'PENDING_APPROVAL', 'CLOSING', 'CLOSED', 'LOCKED', 'TRADING', 'PORTFOLIO', 'OWNER'].map((v) => [v, JSON.stringify(v)]),
);

const quote = (value: string) => QUOTED.get(value) ?? JSON.stringify(value);

export function usersJson(users: readonly UserRef[]): string {
  let out = '';
  for (const u of users) out += `${out ? ',' : ''}{"id":${JSON.stringify(u.id)},"type":${quote(u.type)}}`;
  return `[${out}]`;
}

export function accountJson(f: AccountFields, corruption?: Record<string, unknown>): string {
  if (corruption) return JSON.stringify(Object.assign(accountObject(f), corruption));
  if (f.extra || f.users.some((u) => u.extra)) return JSON.stringify(accountObject(f));
  return (
    `{"id":"${f.id}","created_at":"${formatMicros(f.createdUs)}","updated_at":"${formatMicros(f.updatedUs)}",` +
    `"account_group_id":"${f.groupId}","type":${quote(f.type)},"users":${f.usersJson ?? usersJson(f.users)},` +
    `"name":${JSON.stringify(f.name)},"status":${quote(f.status)},"account_number":${f.accountNumber}}`
  );
}
