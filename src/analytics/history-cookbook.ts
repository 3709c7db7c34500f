// Cookbook queries for the fields Upvest adds and the history of every field (issue 25), in the
// shape of cookbook.ts, quoted verbatim under History in docs/analysts.md. The tests run each one,
// exactly as written here, as the read-only role.
import type { CookbookQuery } from './cookbook.js';

export const HISTORY_COOKBOOK: readonly CookbookQuery[] = [
  {
    id: 'account_as_of',
    question: 'What was one account like on 1 March 2025 (name, type, group, owners), as the mirror knew it?',
    sql: `SELECT id, name, type, account_group_id, status, deleted, users, extra
FROM accounts_as_of(timestamptz '2025-03-01 00:00:00+00')
WHERE id = '00000000-0000-4000-8000-000000000001';`,
  },
  {
    id: 'renames_last_30_days',
    question: 'Which accounts were renamed in the last 30 days, from what to what?',
    sql: `SELECT account_id, changed_at, old_value #>> '{}' AS renamed_from, new_value #>> '{}' AS renamed_to, source
FROM account_changes
WHERE field = 'name' AND changed_at >= now() - interval '30 days'
ORDER BY changed_at, id;`,
  },
  {
    id: 'owners_changed',
    question: 'Whose ownership of which account began or ended, and when?',
    sql: `SELECT account_id, user_id, changed_at,
       CASE WHEN old_value IS NULL THEN 'became owner'
            WHEN new_value IS NULL THEN 'ceased to be owner'
            ELSE 'owner changed' END AS what,
       new_value ->> 'type' AS owner_type
FROM account_changes
WHERE field = 'user'
ORDER BY changed_at, id;`,
  },
  {
    id: 'unknown_field_values',
    question: 'Which live accounts carry a field Upvest added that account-sync does not know yet (say tax_residency), with its value?',
    sql: `SELECT extra ->> 'tax_residency' AS tax_residency, count(*) AS accounts
FROM accounts
WHERE deleted_at IS NULL AND extra ? 'tax_residency'
GROUP BY 1
ORDER BY accounts DESC, 1;`,
  },
];
