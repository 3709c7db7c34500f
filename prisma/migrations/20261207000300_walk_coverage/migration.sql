-- A run proves that it listed every account (issue 21). Offset paging is not a snapshot, and
-- Upvest breaks ties of the sort key in no fixed order, so a page's position proves nothing on
-- its own; what a page of a list sorted by one key does prove is that it held, at the moment it
-- was served, every account whose key lies strictly between its first and its last key. A walk
-- is complete when those open intervals, over all its pages, leave no key uncovered. Each page
-- keeps what that judgement needs.

-- The sort key of the page's first and last records that have one (created_at for the walk of
-- a full run, updated_at for the newest-first walks), NULL when none has a usable one or when
-- the records were not in the order asked for (then the page proves nothing).
ALTER TABLE "sync_run_pages"
    ADD COLUMN "first_key"  TIMESTAMPTZ(6),
    ADD COLUMN "last_key"   TIMESTAMPTZ(6),
    -- How many records at its head share first_key, and at its tail last_key: where the page's
    -- tie groups end, which is where a window fetched to close a gap has to start or end.
    ADD COLUMN "head_ties"  INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "tail_ties"  INTEGER NOT NULL DEFAULT 0,
    -- The page came back with fewer records than asked: nothing followed it then.
    ADD COLUMN "ends_list"  BOOLEAN NOT NULL DEFAULT false,
    -- walk: a page of the walk's layout (offset from its index); heal: a window fetched to close
    -- a gap between pages; catch_up: the newest-first pass after the walk (catch_up_pass says
    -- which, from 1); lookup: accounts looked up one by one.
    -- The accounts the page left to the previous page's batch (consecutive pages share some),
    -- and the key of the last of them: until the previous page is committed listing them, a
    -- process killed between the two commits leaves them to nobody, so the page proves only
    -- what lies above that key.
    ADD COLUMN "left_out"     UUID[],
    ADD COLUMN "left_out_key" TIMESTAMPTZ(6),
    ADD COLUMN "kind"       TEXT NOT NULL DEFAULT 'walk',
    ADD COLUMN "catch_up_pass" INTEGER NOT NULL DEFAULT 0,
    ADD CONSTRAINT "sync_run_pages_kind_check" CHECK ("kind" IN ('walk', 'heal', 'catch_up', 'lookup'));

UPDATE "sync_run_pages" SET "kind" = 'catch_up', "catch_up_pass" = 1 WHERE "catch_up";

-- catch_up stays, for releases before 0.2.0 that run beside this one during a rolling deploy:
-- they write it and read their walk's pages as NOT catch_up. Kept in step with kind both ways
-- (a page that is not of the walk's layout is catch_up to them); a later release drops it.
CREATE FUNCTION "sync_run_pages_kind_compat"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."catch_up" AND NEW."kind" = 'walk' THEN
        NEW."kind" := 'catch_up';
        NEW."catch_up_pass" := greatest(NEW."catch_up_pass", 1);
    END IF;
    NEW."catch_up" := NEW."kind" <> 'walk';
    RETURN NEW;
END $$;
CREATE TRIGGER "sync_run_pages_kind_compat" BEFORE INSERT OR UPDATE ON "sync_run_pages"
    FOR EACH ROW EXECUTE FUNCTION "sync_run_pages_kind_compat"();

-- A recognised page is recorded from its fingerprint, keys included. Fingerprints stored before
-- (or by an earlier release during a rolling deploy) know no keys: they recognise nothing, and
-- the next full run decodes such a page once and stores its fingerprint anew.
-- keys_for: the fingerprint the keys were taken with; an earlier release that rewrites a
-- fingerprint leaves the keys as they were, and they no longer count.
ALTER TABLE "sync_page_fingerprints"
    ADD COLUMN "first_key" TIMESTAMPTZ(6),
    ADD COLUMN "last_key"  TIMESTAMPTZ(6),
    ADD COLUMN "head_ties" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "tail_ties" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN "keys_for"  TEXT;

-- How many records consecutive pages of the walk's layout share (page k starts at
-- k * (page_size - page_overlap)); NULL for runs of earlier releases, whose pages keep no keys
-- and are not resumed. heal_requests: windows fetched to close gaps.
ALTER TABLE "sync_runs"
    ADD COLUMN "page_overlap"  INTEGER,
    ADD COLUMN "heal_requests" INTEGER NOT NULL DEFAULT 0;

-- incomplete: the run could not prove that it listed every account (a gap it could not close,
-- a tie group larger than a page); it keeps what it wrote, marks nothing deleted, and the next
-- run is a full one.
ALTER TABLE "sync_runs" DROP CONSTRAINT "sync_runs_status_check";
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_status_check"
    CHECK ("status" IN ('running', 'succeeded', 'failed', 'interrupted', 'incomplete'));
