-- Webhook events applied to the mirror (issue 12). A write or a status change now comes from a
-- sync run or from a webhook event; the analysts' tables say which.

-- Status changes: where each came from. Existing rows were all seen by syncs.
ALTER TABLE "account_status_changes" ADD COLUMN "source" TEXT NOT NULL DEFAULT 'sync';
ALTER TABLE "account_status_changes" ADD COLUMN "webhook_event_id" UUID;
ALTER TABLE "account_status_changes" ALTER COLUMN "sync_run_id" DROP NOT NULL;
ALTER TABLE "account_status_changes" ADD CONSTRAINT "account_status_changes_source_check" CHECK (
    ("source" = 'sync' AND "sync_run_id" IS NOT NULL AND "webhook_event_id" IS NULL)
    OR ("source" = 'webhook' AND "webhook_event_id" IS NOT NULL AND "sync_run_id" IS NULL));
COMMENT ON COLUMN "account_status_changes"."source" IS
    'sync: seen by the sync run sync_run_id; webhook: applied from the webhook event webhook_event_id.';

-- Accounts: the last sync run and the last webhook event that wrote the row. An account first
-- seen in a webhook has no sync run yet.
ALTER TABLE "accounts" ALTER COLUMN "last_sync_run_id" DROP NOT NULL;
ALTER TABLE "accounts" ADD COLUMN "last_webhook_event_id" UUID;
COMMENT ON COLUMN "accounts"."last_sync_run_id" IS 'The sync run that last wrote the row; NULL while only webhooks have.';
COMMENT ON COLUMN "accounts"."last_webhook_event_id" IS 'The webhook event that last wrote the row; NULL if none has.';

-- Rejected records: kept aside by a sync run (with its page), or from a webhook event.
ALTER TABLE "rejected_records" ALTER COLUMN "sync_run_id" DROP NOT NULL;
ALTER TABLE "rejected_records" ALTER COLUMN "page_offset" DROP NOT NULL;
ALTER TABLE "rejected_records" ADD COLUMN "webhook_event_id" UUID;
ALTER TABLE "rejected_records" ADD CONSTRAINT "rejected_records_source_check" CHECK (
    ("sync_run_id" IS NOT NULL AND "page_offset" IS NOT NULL AND "webhook_event_id" IS NULL)
    OR ("webhook_event_id" IS NOT NULL AND "sync_run_id" IS NULL));
CREATE INDEX "rejected_records_webhook_event_id_idx" ON "rejected_records" ("webhook_event_id") WHERE "webhook_event_id" IS NOT NULL;

-- The history view says where each period's change came from (new columns go last, so that
-- CREATE OR REPLACE keeps every existing column as it was).
CREATE OR REPLACE VIEW "account_status_history" AS
SELECT
    c."account_id",
    c."to_status"                                             AS "status",
    c."changed_at"                                            AS "valid_from",
    CASE
        WHEN n."changed_at" IS NOT NULL THEN n."changed_at"
        WHEN a."deleted_at" IS NOT NULL THEN GREATEST(a."deleted_at", c."changed_at")
    END                                                       AS "valid_to",
    (n."changed_at" IS NULL AND a."deleted_at" IS NULL)       AS "is_current",
    c."from_status"                                           AS "previous_status",
    c."id"                                                    AS "change_id",
    c."observed_at",
    c."sync_run_id",
    c."source",
    c."webhook_event_id"
FROM "account_status_changes" c
JOIN "accounts" a ON a."id" = c."account_id"
LEFT JOIN LATERAL (
    SELECT nx."changed_at"
    FROM "account_status_changes" nx
    WHERE nx."account_id" = c."account_id"
      AND (nx."changed_at", nx."id") > (c."changed_at", c."id")
    ORDER BY nx."changed_at", nx."id"
    LIMIT 1
) n ON true;

-- How fresh the webhook path is: the newest events applied, for `status` and the status page.
CREATE INDEX "webhook_events_processed_at_idx" ON "webhook_events" ("processed_at") WHERE "outcome" IS NOT NULL;
