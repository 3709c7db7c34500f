-- The daemon resumes a run that a stopped or crashed process left behind, under the same id.
-- These say that it happened, and when last; an abandoned run that is not resumed is closed as
-- failed with error_code 'SYNC_ABANDONED' instead.
ALTER TABLE "sync_runs" ADD COLUMN "resumes" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "sync_runs" ADD COLUMN "resumed_at" TIMESTAMPTZ(6);

COMMENT ON COLUMN "sync_runs"."resumes" IS 'Times this run was resumed after its process stopped or died (0: ran in one go).';
COMMENT ON COLUMN "sync_runs"."resumed_at" IS 'When this run was last resumed; NULL if never.';
