// The SQL cookbook, in one place: docs/analysts.md quotes each query verbatim and the
// tests run each one, exactly as written here, as the read-only role against a fixture history.
// Day, week and month boundaries are UTC, whatever the session's TimeZone.

export interface CookbookQuery {
  id: string;
  question: string;
  sql: string;
}

export const COOKBOOK: readonly CookbookQuery[] = [
  {
    id: 'accounts_by_status_now',
    question: 'How many live accounts are in each status now?',
    sql: `SELECT status, accounts
FROM account_status_counts
ORDER BY accounts DESC, status;`,
  },
  {
    id: 'changes_last_24_hours',
    question: 'Which status changes happened in the last 24 hours?',
    sql: `SELECT coalesce(from_status, '(new)') AS from_status, to_status, count(*) AS changes
FROM account_status_changes
WHERE changed_at >= now() - interval '24 hours'
GROUP BY 1, 2
ORDER BY changes DESC, from_status, to_status;`,
  },
  {
    id: 'median_onboarding_time',
    question: 'What is the median time from PENDING_APPROVAL to ACTIVE (onboarding)?',
    sql: `WITH pending AS (
    SELECT account_id, min(changed_at) AS pending_at
    FROM account_status_changes
    WHERE to_status = 'PENDING_APPROVAL'
    GROUP BY account_id
), onboarded AS (
    SELECT p.account_id, min(c.changed_at) - p.pending_at AS took
    FROM pending p
    JOIN account_status_changes c
      ON c.account_id = p.account_id AND c.to_status = 'ACTIVE' AND c.changed_at >= p.pending_at
    GROUP BY p.account_id, p.pending_at
)
SELECT count(*) AS onboarded_accounts,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY took) AS median_time_to_active
FROM onboarded;`,
  },
  {
    id: 'accounts_closed_per_week',
    question: 'How many accounts were closed each week?',
    sql: `SELECT date_trunc('week', changed_at AT TIME ZONE 'UTC')::date AS week_starting,
       count(DISTINCT account_id) AS accounts_closed
FROM account_status_changes
WHERE to_status = 'CLOSED'
GROUP BY 1
ORDER BY 1;`,
  },
  {
    id: 'locked_last_month',
    question: 'Which accounts were LOCKED at any time last month?',
    sql: `WITH last_month AS (
    SELECT (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month') AT TIME ZONE 'UTC' AS starts,
           date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS ends
)
SELECT DISTINCT h.account_id
FROM account_status_history h, last_month m
WHERE h.status = 'LOCKED'
  AND h.valid_from < m.ends
  AND (h.valid_to IS NULL OR h.valid_to > m.starts)
ORDER BY h.account_id;`,
  },
  {
    id: 'users_with_several_accounts',
    question: 'Which users own several live accounts?',
    sql: `SELECT au.user_id, count(*) AS accounts,
       array_agg(a.account_number ORDER BY a.account_number) AS account_numbers
FROM account_users au
JOIN accounts a ON a.id = au.account_id
WHERE au.type = 'OWNER' AND a.deleted_at IS NULL
GROUP BY au.user_id
HAVING count(*) > 1
ORDER BY accounts DESC, au.user_id;`,
  },
  {
    id: 'daily_trend_last_30_days',
    question: 'How many accounts were in each status at the end of each of the last 30 days (for a trend chart)?',
    sql: `SELECT day, status, accounts
FROM account_status_daily((now() AT TIME ZONE 'UTC')::date - 29, (now() AT TIME ZONE 'UTC')::date)
ORDER BY day, status;`,
  },
  {
    id: 'history_of_one_account',
    question: 'What was the status history of one account?',
    sql: `SELECT status, valid_from, valid_to, is_current
FROM account_status_history
WHERE account_id = '7d0f4c52-0a5e-4f7e-9c1e-2b1a3c4d5e6f'
ORDER BY valid_from, change_id;`,
  },
];

export function cookbookQuery(id: string): CookbookQuery {
  const query = COOKBOOK.find((q) => q.id === id);
  if (!query) throw new Error(`no cookbook query ${id}`);
  return query;
}
