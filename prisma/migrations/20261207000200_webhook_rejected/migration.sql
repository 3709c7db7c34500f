-- Rejected webhook events, counted by `account-sync status` and on every poll of the status page
-- (src/webhooks/lag-report.ts): those of the last hour, and of them those whose webhook_id is
-- none of this tenant's subscriptions. Read from this index by a range of processed_at,
-- whatever else the table holds.
CREATE INDEX "webhook_events_rejected_idx" ON "webhook_events" ("processed_at") WHERE "outcome" = 'rejected';

COMMENT ON COLUMN "webhook_events"."outcome" IS 'applied, duplicate, ignored (unknown type), rejected (unusable event, or not from one of this tenant''s subscriptions: see reason); NULL: pending.';
