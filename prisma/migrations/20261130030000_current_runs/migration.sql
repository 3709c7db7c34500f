-- A run that exits 0 leaves the mirror current as of its end (issue 10): after its walk it
-- catches up, newest first, with what changed since the walk began, and it says whether it
-- could settle deletions.

-- Pages of that catch-up pass: written and counted like the walk's, but not part of the walk
-- whose consistency is judged.
ALTER TABLE "sync_run_pages" ADD COLUMN "catch_up" BOOLEAN NOT NULL DEFAULT false;

-- Whether the run settled deletions: every live account it did not list is now marked
-- deleted, or was found still there. NULL while running; false with the reason in
-- deletions_note when it left them to the next full run.
ALTER TABLE "sync_runs" ADD COLUMN "deletions_complete" BOOLEAN;
ALTER TABLE "sync_runs" ADD COLUMN "deletions_note" TEXT;
COMMENT ON COLUMN "sync_runs"."deletions_complete" IS
    'true: every account Upvest no longer lists is marked deleted; false: left to the next full run (see deletions_note).';

-- Earlier runs settled deletions exactly when they were full, succeeded, and walked the whole
-- list consistently.
UPDATE "sync_runs" SET
    "deletions_complete" = ("status" = 'succeeded' AND "mode" = 'full' AND coalesce("walk_complete", false) AND coalesce("walk_consistent", false)),
    "deletions_note" = CASE
        WHEN "status" <> 'succeeded' THEN NULL
        WHEN "mode" = 'incremental' THEN 'incremental runs do not look for deletions'
        WHEN NOT (coalesce("walk_complete", false) AND coalesce("walk_consistent", false)) THEN 'the walk was not complete and consistent'
    END
WHERE "status" <> 'running' AND "status" <> 'interrupted';
