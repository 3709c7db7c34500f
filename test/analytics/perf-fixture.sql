-- How the timings of the analyst surface in docs/ (analysts.md, performance.md) were measured (not run by the tests).
-- On a scratch database with all migrations applied:
--   psql "$SCRATCH_URL" -f test/analytics/perf-fixture.sql
-- then time the cookbook queries and account_status_daily() against it.
-- 1M accounts created over the last year, ~2.1M status changes (first sight, activation,
-- locks and unlocks, closures), 2% of the accounts deleted, every user owning two accounts.
SELECT setseed(0.42);
INSERT INTO sync_runs (page_size, status) VALUES (1000, 'succeeded');
CREATE UNLOGGED TABLE gen AS
SELECT
  g AS n,
  md5('acct' || g)::uuid AS id,
  now() - random() * interval '365 days' AS created_at,
  random() AS r_active, random() AS r_lock, random() AS r_unlock, random() AS r_close, random() AS r_del,
  random() * interval '72 hours' AS d_active,
  random() * interval '60 days' AS d_lock,
  random() * interval '10 days' AS d_unlock,
  random() * interval '90 days' AS d_close,
  random() * interval '14 days' AS d_closed
FROM generate_series(1, 1000000) g;

CREATE UNLOGGED TABLE gen_changes AS
WITH ev AS (
  SELECT id, created_at AS t, NULL::text AS f, 'PENDING_APPROVAL' AS s, 1 AS k FROM gen
  UNION ALL SELECT id, created_at + d_active, 'PENDING_APPROVAL', 'ACTIVE', 2 FROM gen WHERE r_active < 0.8
  UNION ALL SELECT id, created_at + d_active + d_lock, 'ACTIVE', 'LOCKED', 3 FROM gen WHERE r_active < 0.8 AND r_lock < 0.2
  UNION ALL SELECT id, created_at + d_active + d_lock + d_unlock, 'LOCKED', 'ACTIVE', 4 FROM gen WHERE r_active < 0.8 AND r_lock < 0.2 AND r_unlock < 0.5
  UNION ALL SELECT id, created_at + d_active + d_lock + d_unlock + d_close, 'ACTIVE', 'CLOSING', 5 FROM gen WHERE r_active < 0.8 AND (r_lock >= 0.2 OR r_unlock < 0.5) AND r_close < 0.07
  UNION ALL SELECT id, created_at + d_active + d_lock + d_unlock + d_close + d_closed, 'CLOSING', 'CLOSED', 6 FROM gen WHERE r_active < 0.8 AND (r_lock >= 0.2 OR r_unlock < 0.5) AND r_close < 0.07
)
SELECT * FROM ev WHERE t < now();

INSERT INTO accounts (id, account_group_id, type, name, status, account_number, created_at, updated_at, first_seen_at, last_seen_at, deleted_at, last_sync_run_id)
SELECT g.id, md5('grp' || (g.n / 2))::uuid, 'TRADING', 'acct ' || g.n,
       l.s,
       g.n, g.created_at, g.created_at, g.created_at, now(),
       CASE WHEN g.r_del < 0.02 THEN g.created_at + interval '100 days' END, 1
FROM gen g JOIN (SELECT DISTINCT ON (id) id, s FROM gen_changes ORDER BY id, k DESC) l ON l.id = g.id;
-- keep deletions in the past
UPDATE accounts SET deleted_at = NULL WHERE deleted_at > now();

INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id)
SELECT id, f, s, t, t + interval '5 minutes', 1 FROM gen_changes ORDER BY t;
VACUUM ANALYZE accounts;
VACUUM ANALYZE account_status_changes;
SELECT count(*) FROM account_status_changes;
SELECT status, count(*) FROM accounts GROUP BY 1 ORDER BY 1;
SELECT count(*) FROM accounts WHERE deleted_at IS NOT NULL;
SELECT pg_size_pretty(pg_total_relation_size('account_status_changes')), pg_size_pretty(pg_total_relation_size('accounts'));
INSERT INTO users (id, first_seen_at, last_seen_at) SELECT DISTINCT md5('user' || (n / 2))::uuid, now(), now() FROM gen;
INSERT INTO account_users (account_id, user_id, type) SELECT id, md5('user' || (n / 2))::uuid, 'OWNER' FROM gen;
VACUUM ANALYZE users;
VACUUM ANALYZE account_users;
DROP TABLE gen_changes;
DROP TABLE gen;
