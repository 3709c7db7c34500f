-- Webhook events as Upvest delivered them, each stored once: the receiver writes a delivery's
-- events in one transaction and answers 200 only after it committed, so an event is either
-- here or will be delivered again. Applying them to the mirror happens afterwards and records
-- its outcome on the row; a row without an outcome is pending.
CREATE TABLE "webhook_events" (
    "seq"              BIGINT GENERATED ALWAYS AS IDENTITY,
    -- The event's id (lower case). An event without a usable id is keyed by 'sha256:' and the
    -- digest of its JSON, a delivery that is no envelope at all by 'body-sha256:' and the
    -- digest of the body, so that their re-deliveries are counted too.
    "dedupe_key"       TEXT NOT NULL,
    "event_id"         UUID,
    "webhook_id"       TEXT,
    "type"             TEXT,
    -- object.id when it is a string: the account an ACCOUNT.* event is about.
    "object_id"        TEXT,
    -- created_at as sent, and split for ordering: truncated to microseconds (what timestamptz
    -- holds) plus the nanoseconds beyond (0..999).
    "created_at_raw"   TEXT,
    "created_at"       TIMESTAMPTZ(6),
    "created_at_nanos" SMALLINT,
    -- The event as delivered (for an unparseable body: the body as a JSON string).
    "raw"              JSONB NOT NULL,
    -- keyid of the signature it arrived under.
    "key_id"           TEXT NOT NULL,
    "received_at"      TIMESTAMPTZ(6) NOT NULL,
    "last_received_at" TIMESTAMPTZ(6) NOT NULL,
    -- Deliveries that carried it (a re-delivered batch counts here, it is not stored again).
    "deliveries"       INTEGER NOT NULL DEFAULT 1,
    -- NULL while pending; set by whoever processed it, or 'rejected' already at intake.
    "outcome"          TEXT,
    "reason"           TEXT,
    "processed_at"     TIMESTAMPTZ(6),
    CONSTRAINT "webhook_events_pkey" PRIMARY KEY ("seq"),
    CONSTRAINT "webhook_events_dedupe_key_key" UNIQUE ("dedupe_key"),
    CONSTRAINT "webhook_events_outcome_check" CHECK ("outcome" IN ('applied', 'duplicate', 'ignored', 'rejected')),
    CONSTRAINT "webhook_events_processed_check" CHECK (("outcome" IS NULL) = ("processed_at" IS NULL))
);

-- The pending events, oldest first: what the applier claims.
CREATE INDEX "webhook_events_pending_idx" ON "webhook_events" ("created_at", "created_at_nanos", "seq") WHERE "outcome" IS NULL;
-- One account's events in order.
CREATE INDEX "webhook_events_object_idx" ON "webhook_events" ("object_id", "created_at", "created_at_nanos");

COMMENT ON TABLE "webhook_events" IS 'Webhook events received from Upvest, once per event id; outcome NULL while not yet applied.';
COMMENT ON COLUMN "webhook_events"."outcome" IS 'applied, duplicate, ignored (unknown type), rejected (unusable event); NULL: pending.';
