// The columns of an account row that Upvest's record fills.
import type { AccountRecord } from '../upvest/schema.js';

/**
 * The account's columns as Upvest's record fills them, in one list: the JSON parameter, the
 * comparison with the stored row, the upsert and COPY's rows are all built from it. `json` says how a value
 * is written into the parameter (and COPY's text, see bulk-load.ts): ids and timestamps were validated to hold no character JSON
 * escapes, so they are written as they are.
 */
export const ACCOUNT_COLUMNS = [
  { column: 'id', key: 'i', type: 'uuid', json: 'plain', of: (a: AccountRecord) => a.id },
  { column: 'account_group_id', key: 'g', type: 'uuid', json: 'plain', of: (a: AccountRecord) => a.accountGroupId },
  { column: 'type', key: 't', type: 'text', json: 'escaped', of: (a: AccountRecord) => a.type },
  { column: 'name', key: 'n', type: 'text', json: 'escaped', of: (a: AccountRecord) => a.name },
  { column: 'status', key: 's', type: 'text', json: 'escaped', of: (a: AccountRecord) => a.status },
  { column: 'account_number', key: 'a', type: 'bigint', json: 'number', of: (a: AccountRecord) => a.accountNumber },
  { column: 'created_at', key: 'c', type: 'timestamptz', json: 'plain', of: (a: AccountRecord) => a.createdAt },
  { column: 'updated_at', key: 'u', type: 'timestamptz', json: 'plain', of: (a: AccountRecord) => a.updatedAt },
  { column: 'extra', key: 'x', type: 'jsonb', json: 'raw', of: (a: AccountRecord) => a.extra ?? null },
] as const;
