-- The secondary indexes a first sync into an empty mirror drops while it loads, and builds
-- again once its walk is over (src/sync/deferred-indexes.ts): kept here, in the transaction
-- that drops them, so that a run killed in between leaves what to build, and the next run
-- builds it before anything else.
CREATE TABLE "sync_deferred_indexes" (
    "index_name"  TEXT NOT NULL,
    "table_name"  TEXT NOT NULL,
    "definition"  TEXT NOT NULL,
    "sync_run_id" BIGINT NOT NULL,
    "deferred_at" TIMESTAMP(6) WITH TIME ZONE NOT NULL DEFAULT now(),

    CONSTRAINT "sync_deferred_indexes_pkey" PRIMARY KEY ("index_name")
);
