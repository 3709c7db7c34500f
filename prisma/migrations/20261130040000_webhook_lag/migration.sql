-- How fresh the webhook path keeps the mirror, read by `account-sync status` and on every poll
-- of the status page (src/webhooks/lag-report.ts): the event applied last, and the lags
-- (processed_at - created_at) of the events applied within the last hour. Both are read from
-- this index alone, newest first or by a range of processed_at, whatever else the table holds:
-- duplicates, ignored and rejected events are not in it.
CREATE INDEX "webhook_events_applied_idx" ON "webhook_events" ("processed_at", "created_at", "seq") WHERE "outcome" = 'applied';

-- Superseded by the index above (no query reads every processed event by processed_at).
DROP INDEX "webhook_events_processed_at_idx";
