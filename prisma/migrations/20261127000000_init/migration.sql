-- account-sync: the mirror of Upvest accounts, their users and their status history.
-- Analysts query these tables directly: names and meanings are a contract (see README).

-- One row per sync run. Counters are filled in when the run finishes.
CREATE TABLE "sync_runs" (
    "id"                 BIGINT GENERATED ALWAYS AS IDENTITY,
    "mode"               TEXT NOT NULL DEFAULT 'full',
    "status"             TEXT NOT NULL DEFAULT 'running',
    "started_at"         TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    "finished_at"        TIMESTAMPTZ(6),
    "page_size"          INTEGER NOT NULL,
    "total_count"        INTEGER,
    "pages"              INTEGER NOT NULL DEFAULT 0,
    "accounts_seen"      INTEGER NOT NULL DEFAULT 0,
    "accounts_inserted"  INTEGER NOT NULL DEFAULT 0,
    "accounts_updated"   INTEGER NOT NULL DEFAULT 0,
    "accounts_unchanged" INTEGER NOT NULL DEFAULT 0,
    "status_changes"     INTEGER NOT NULL DEFAULT 0,
    "deletions"          INTEGER NOT NULL DEFAULT 0,
    "rejected_records"   INTEGER NOT NULL DEFAULT 0,
    "retries"            INTEGER NOT NULL DEFAULT 0,
    "walk_complete"      BOOLEAN,
    "walk_consistent"    BOOLEAN,
    "inconsistencies"    TEXT[] NOT NULL DEFAULT '{}',
    "error_code"         TEXT,
    "error"              TEXT,
    CONSTRAINT "sync_runs_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "sync_runs_status_check" CHECK ("status" IN ('running', 'succeeded', 'failed')),
    CONSTRAINT "sync_runs_mode_check" CHECK ("mode" IN ('full', 'incremental'))
);
CREATE INDEX "sync_runs_status_started_at_idx" ON "sync_runs" ("status", "started_at" DESC);

-- Bookkeeping of a run's committed pages: what makes a run resumable, lets the end of the
-- walk judge its consistency, and tells which accounts were listed (for deletions) without
-- holding the whole list in memory. Rows are removed when their run finishes.
CREATE TABLE "sync_run_pages" (
    "sync_run_id"    BIGINT NOT NULL,
    "page_index"     INTEGER NOT NULL,
    "page_offset"    INTEGER NOT NULL,
    "item_count"     INTEGER NOT NULL,
    "total_count"    INTEGER NOT NULL,
    "first_id"       TEXT,
    "last_id"        TEXT,
    "account_ids"    UUID[] NOT NULL,
    "inserted"       INTEGER NOT NULL DEFAULT 0,
    "updated"        INTEGER NOT NULL DEFAULT 0,
    "unchanged"      INTEGER NOT NULL DEFAULT 0,
    "status_changes" INTEGER NOT NULL DEFAULT 0,
    "rejected"       INTEGER NOT NULL DEFAULT 0,
    "retries"        INTEGER NOT NULL DEFAULT 0,
    "committed_at"   TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "sync_run_pages_pkey" PRIMARY KEY ("sync_run_id", "page_index"),
    CONSTRAINT "sync_run_pages_sync_run_id_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "sync_runs" ("id") ON DELETE CASCADE
);

-- The mirror: one row per account Upvest has ever listed.
-- status and type are TEXT, not enums: a value Upvest adds tomorrow is stored as it comes.
CREATE TABLE "accounts" (
    "id"               UUID NOT NULL,
    "account_group_id" UUID NOT NULL,
    "type"             TEXT NOT NULL,
    "name"             TEXT NOT NULL,
    "status"           TEXT NOT NULL,
    "account_number"   BIGINT NOT NULL,
    "created_at"       TIMESTAMPTZ(6) NOT NULL,
    "updated_at"       TIMESTAMPTZ(6) NOT NULL,
    "first_seen_at"    TIMESTAMPTZ(6) NOT NULL,
    "last_seen_at"     TIMESTAMPTZ(6) NOT NULL,
    "deleted_at"       TIMESTAMPTZ(6),
    "last_sync_run_id" BIGINT NOT NULL,
    CONSTRAINT "accounts_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "accounts_last_sync_run_id_fkey" FOREIGN KEY ("last_sync_run_id") REFERENCES "sync_runs" ("id")
);
CREATE INDEX "accounts_status_live_idx" ON "accounts" ("status") WHERE "deleted_at" IS NULL;
CREATE INDEX "accounts_account_group_id_idx" ON "accounts" ("account_group_id");
CREATE INDEX "accounts_created_at_idx" ON "accounts" ("created_at");

CREATE TABLE "users" (
    "id"            UUID NOT NULL,
    "first_seen_at" TIMESTAMPTZ(6) NOT NULL,
    "last_seen_at"  TIMESTAMPTZ(6) NOT NULL,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);

-- Always each account's current list of users, as Upvest last reported it.
CREATE TABLE "account_users" (
    "account_id" UUID NOT NULL,
    "user_id"    UUID NOT NULL,
    "type"       TEXT NOT NULL,
    CONSTRAINT "account_users_pkey" PRIMARY KEY ("account_id", "user_id"),
    CONSTRAINT "account_users_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts" ("id") ON DELETE CASCADE,
    CONSTRAINT "account_users_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX "account_users_user_id_idx" ON "account_users" ("user_id");

-- Append-only history of every status change a sync observed; also the change feed
-- downstream jobs read by increasing id. Rows are never updated or deleted (see trigger).
CREATE TABLE "account_status_changes" (
    "id"          BIGINT GENERATED ALWAYS AS IDENTITY,
    "account_id"  UUID NOT NULL,
    "from_status" TEXT,
    "to_status"   TEXT NOT NULL,
    "changed_at"  TIMESTAMPTZ(6) NOT NULL,
    "observed_at" TIMESTAMPTZ(6) NOT NULL,
    "sync_run_id" BIGINT NOT NULL,
    CONSTRAINT "account_status_changes_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "account_status_changes_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts" ("id"),
    CONSTRAINT "account_status_changes_sync_run_id_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "sync_runs" ("id")
);
CREATE INDEX "account_status_changes_account_id_changed_at_idx" ON "account_status_changes" ("account_id", "changed_at", "id");
CREATE INDEX "account_status_changes_to_status_changed_at_idx" ON "account_status_changes" ("to_status", "changed_at");
CREATE INDEX "account_status_changes_sync_run_id_idx" ON "account_status_changes" ("sync_run_id");

CREATE FUNCTION "account_status_changes_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'account_status_changes is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER "account_status_changes_append_only"
    BEFORE UPDATE OR DELETE ON "account_status_changes"
    FOR EACH ROW EXECUTE FUNCTION "account_status_changes_append_only"();

-- Accounts that failed validation, kept aside with the reason; the rest of their page is stored.
CREATE TABLE "rejected_records" (
    "id"          BIGINT GENERATED ALWAYS AS IDENTITY,
    "sync_run_id" BIGINT NOT NULL,
    "page_offset" INTEGER NOT NULL,
    "account_id"  TEXT,
    "raw"         JSONB NOT NULL,
    "reason"      TEXT NOT NULL,
    "rejected_at" TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    CONSTRAINT "rejected_records_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "rejected_records_sync_run_id_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "sync_runs" ("id") ON DELETE CASCADE
);
CREATE INDEX "rejected_records_sync_run_id_idx" ON "rejected_records" ("sync_run_id");
