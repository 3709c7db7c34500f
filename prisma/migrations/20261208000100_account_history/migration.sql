-- Keep what Upvest adds, remember every change (issue 25).

-- A status change may come from a lookup (`account-sync refresh`): neither a run nor an event.
ALTER TABLE "account_status_changes" DROP CONSTRAINT "account_status_changes_source_check";
ALTER TABLE "account_status_changes" ADD CONSTRAINT "account_status_changes_source_check" CHECK (
    ("source" = 'sync' AND "sync_run_id" IS NOT NULL AND "webhook_event_id" IS NULL)
    OR ("source" = 'webhook' AND "webhook_event_id" IS NOT NULL AND "sync_run_id" IS NULL)
    OR ("source" = 'lookup' AND "sync_run_id" IS NULL AND "webhook_event_id" IS NULL));
COMMENT ON COLUMN "account_status_changes"."source" IS
    'sync: seen by the sync run sync_run_id; webhook: applied from the webhook event webhook_event_id; lookup: fetched by account-sync refresh.';

-- Every top-level field of an account the schema does not know, and every unknown field of a
-- user as the account lists it, as Upvest sent them; NULL when there is none. Compared like the
-- other columns: an unchanged value writes nothing.
ALTER TABLE "accounts" ADD COLUMN "extra" JSONB;
ALTER TABLE "account_users" ADD COLUMN "extra" JSONB;

-- One row per change of one mirrored field of an account: from what (old_value), to what
-- (new_value), when (changed_at: the version's updated_at; for deleted_at, when the mirror
-- marked the deletion or saw the account again; for the same version served with a field the
-- API added, when the mirror saw it) and from where. Values are JSON (to_jsonb of
-- the column), SQL NULL when the column was NULL. An owner's change has field 'user' and the
-- user's id in user_id; its values are {"type": ..., "extra": ...}, NULL when not an owner.
-- An account's first version makes no row: first_seen_at says when the mirror met it.
-- Read by id, like account_status_changes: ids become visible in id order (the feed lock).
CREATE TABLE "account_changes" (
    "id"               BIGINT GENERATED ALWAYS AS IDENTITY,
    "account_id"       UUID NOT NULL,
    "field"            TEXT NOT NULL,
    "user_id"          UUID,
    "old_value"        JSONB,
    "new_value"        JSONB,
    "changed_at"       TIMESTAMPTZ(6) NOT NULL,
    "observed_at"      TIMESTAMPTZ(6) NOT NULL,
    "source"           TEXT NOT NULL,
    "sync_run_id"      BIGINT,
    "webhook_event_id" UUID,
    CONSTRAINT "account_changes_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "account_changes_account_id_fkey" FOREIGN KEY ("account_id") REFERENCES "accounts" ("id"),
    CONSTRAINT "account_changes_source_check" CHECK ("source" IN ('sync', 'webhook', 'lookup')),
    CONSTRAINT "account_changes_user_check" CHECK (("field" = 'user') = ("user_id" IS NOT NULL))
);
-- "The account as of T" reads, per field, the first change after T.
CREATE INDEX "account_changes_account_field_idx" ON "account_changes" ("account_id", "field", "user_id", "changed_at", "id");
CREATE INDEX "account_changes_changed_at_idx" ON "account_changes" ("changed_at");

CREATE TRIGGER "account_changes_append_only"
    BEFORE UPDATE OR DELETE ON "account_changes"
    FOR EACH ROW EXECUTE FUNCTION "account_status_changes_append_only"();
CREATE TRIGGER "account_changes_no_truncate"
    BEFORE TRUNCATE ON "account_changes"
    FOR EACH STATEMENT EXECUTE FUNCTION "account_status_changes_append_only"();
-- The change feed's ordering guarantee (see analyst_surface): the same lock as the status changes.
CREATE TRIGGER "account_changes_feed_lock"
    BEFORE INSERT ON "account_changes"
    FOR EACH STATEMENT EXECUTE FUNCTION "account_status_changes_feed_lock"();

-- Followers of the field feed (`account-sync changes --fields --follow`) are woken by a NOTIFY
-- on a channel of its own; the status feed's consumers hear nothing new.
CREATE FUNCTION "account_changes_notify"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('account_changes', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER "account_changes_notify"
    AFTER INSERT ON "account_changes"
    FOR EACH STATEMENT EXECUTE FUNCTION "account_changes_notify"();

-- The changes of an account's own columns, recorded by the database for whichever writer
-- updates the row (upserts of a sync, a webhook or a lookup; deletion marks), from the row
-- version it replaced: exactly once, and from what the row really held. Deferred to commit, so
-- the feed lock is the transaction's last lock, as it is for the status changes. The source is
-- the writer's (account_sync.change_source, set by the upsert for its transaction); a writer
-- that does not say is a webhook when it changed last_webhook_event_id, a sync otherwise.
-- Inserts make no rows: a first sync of a million accounts costs what it did.
CREATE FUNCTION "account_changes_record"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    src text := nullif(current_setting('account_sync.change_source', true), '');
BEGIN
    IF src IS NULL THEN
        src := CASE WHEN NEW.last_webhook_event_id IS DISTINCT FROM OLD.last_webhook_event_id THEN 'webhook' ELSE 'sync' END;
    END IF;
    INSERT INTO account_changes (account_id, field, old_value, new_value, changed_at, observed_at, source,
                                 sync_run_id, webhook_event_id)
    SELECT NEW.id, f.field, f.o, f.n,
           CASE WHEN f.field = 'deleted_at' THEN coalesce(NEW.deleted_at, NEW.last_seen_at)
                WHEN NEW.updated_at > OLD.updated_at THEN NEW.updated_at
                -- The same version served differently (a field the API added): when it was seen.
                ELSE greatest(NEW.last_seen_at, NEW.updated_at) END,
           now(), src,
           CASE WHEN src = 'sync' THEN NEW.last_sync_run_id END,
           CASE WHEN src = 'webhook' THEN NEW.last_webhook_event_id END
    FROM (VALUES ('account_group_id', to_jsonb(OLD.account_group_id), to_jsonb(NEW.account_group_id)),
                 ('type', to_jsonb(OLD.type), to_jsonb(NEW.type)),
                 ('name', to_jsonb(OLD.name), to_jsonb(NEW.name)),
                 ('status', to_jsonb(OLD.status), to_jsonb(NEW.status)),
                 ('account_number', to_jsonb(OLD.account_number), to_jsonb(NEW.account_number)),
                 ('created_at', to_jsonb(OLD.created_at), to_jsonb(NEW.created_at)),
                 ('extra', OLD.extra, NEW.extra),
                 ('deleted_at', to_jsonb(OLD.deleted_at), to_jsonb(NEW.deleted_at))) AS f(field, o, n)
    WHERE f.o IS DISTINCT FROM f.n
    ORDER BY f.field;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER "account_changes_record"
    AFTER UPDATE ON "accounts"
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW
    WHEN ((OLD.account_group_id, OLD.type, OLD.name, OLD.status, OLD.account_number, OLD.created_at, OLD.extra, OLD.deleted_at)
          IS DISTINCT FROM
          (NEW.account_group_id, NEW.type, NEW.name, NEW.status, NEW.account_number, NEW.created_at, NEW.extra, NEW.deleted_at))
    EXECUTE FUNCTION "account_changes_record"();

-- The accounts as the mirror knows they were at an instant: each field's value is the one the
-- first change after the instant came from, or the current one when it has not changed since.
-- Accounts first seen after the instant are left out; deleted says whether it was marked
-- deleted then; users are the owners then, sorted by id ([{"id", "type", "extra"}]).
CREATE FUNCTION "accounts_as_of"("at" timestamptz)
RETURNS TABLE ("id" uuid, "account_group_id" uuid, "type" text, "name" text, "status" text, "account_number" bigint,
               "created_at" timestamptz, "extra" jsonb, "deleted" boolean, "users" jsonb)
LANGUAGE sql STABLE AS $$
    SELECT a.id,
           CASE WHEN r.v ? 'account_group_id' THEN (r.v->>'account_group_id')::uuid ELSE a.account_group_id END,
           CASE WHEN r.v ? 'type' THEN r.v->>'type' ELSE a.type END,
           CASE WHEN r.v ? 'name' THEN r.v->>'name' ELSE a.name END,
           CASE WHEN r.v ? 'status' THEN r.v->>'status' ELSE a.status END,
           CASE WHEN r.v ? 'account_number' THEN (r.v->>'account_number')::bigint ELSE a.account_number END,
           CASE WHEN r.v ? 'created_at' THEN (r.v->>'created_at')::timestamptz ELSE a.created_at END,
           CASE WHEN r.v ? 'extra' THEN nullif(r.v->'extra', 'null'::jsonb) ELSE a.extra END,
           CASE WHEN r.v ? 'deleted_at' THEN r.v->>'deleted_at' IS NOT NULL ELSE a.deleted_at IS NOT NULL END,
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', o.user_id, 'type', o.v->'type', 'extra', o.v->'extra') ORDER BY o.user_id), '[]')
            FROM (SELECT coalesce(c.user_id, l.user_id) AS user_id,
                         CASE WHEN c.user_id IS NOT NULL THEN c.old_value ELSE jsonb_build_object('type', l.type, 'extra', l.extra) END AS v
                  FROM (SELECT l.user_id, l.type, l.extra FROM account_users l WHERE l.account_id = a.id) l
                  FULL JOIN (SELECT DISTINCT ON (c.user_id) c.user_id, c.old_value FROM account_changes c
                             WHERE c.account_id = a.id AND c.field = 'user' AND c.changed_at > "at"
                             ORDER BY c.user_id, c.changed_at, c.id) c ON c.user_id = l.user_id) o
            WHERE o.v IS NOT NULL)
    FROM accounts a
    CROSS JOIN LATERAL (
        SELECT coalesce(jsonb_object_agg(f.field, coalesce(f.old_value, 'null'::jsonb)), '{}'::jsonb) AS v
        FROM (SELECT DISTINCT ON (c.field) c.field, c.old_value FROM account_changes c
              WHERE c.account_id = a.id AND c.field <> 'user' AND c.changed_at > "at"
              ORDER BY c.field, c.changed_at, c.id) f) r
    WHERE a.first_seen_at <= "at"
$$;
