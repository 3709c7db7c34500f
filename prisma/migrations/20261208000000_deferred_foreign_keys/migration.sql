-- The foreign keys a first sync into an empty mirror drops while it loads, and adds back once
-- its walk is over, NOT VALID, then validated in one pass (src/sync/deferred-keys.ts): kept
-- here, in the transaction that drops them, so that a run killed before they are all added
-- and validated leaves what to restore, and the next run restores it before anything else.
CREATE TABLE "sync_deferred_foreign_keys" (
    "constraint_name" TEXT NOT NULL,
    "table_name"      TEXT NOT NULL,
    "definition"      TEXT NOT NULL,
    "sync_run_id"     BIGINT NOT NULL,
    "deferred_at"     TIMESTAMP(6) WITH TIME ZONE NOT NULL DEFAULT now(),

    CONSTRAINT "sync_deferred_foreign_keys_pkey" PRIMARY KEY ("constraint_name")
);
