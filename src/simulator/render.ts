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
    id: f.id,
    created_at: formatMicros(f.createdUs),
    updated_at: formatMicros(f.updatedUs),
    account_group_id: f.groupId,
    type: f.type,
    users: f.users.map((u) => ({ id: u.id, type: u.type })),
    name: f.name,
    status: f.status,
    account_number: f.accountNumber,
  };
}

export function accountJson(f: AccountFields, corruption?: Record<string, unknown>): string {
  if (corruption) return JSON.stringify(Object.assign(accountObject(f), corruption));
  let users = '';
  for (const u of f.users) {
    users += `${users ? ',' : ''}{"id":${JSON.stringify(u.id)},"type":${JSON.stringify(u.type)}}`;
  }
  return (
    `{"id":"${f.id}","created_at":"${formatMicros(f.createdUs)}","updated_at":"${formatMicros(f.updatedUs)}",` +
    `"account_group_id":"${f.groupId}","type":${JSON.stringify(f.type)},"users":[${users}],` +
    `"name":${JSON.stringify(f.name)},"status":${JSON.stringify(f.status)},"account_number":${f.accountNumber}}`
  );
}
