-- Incremental runs walk the list newest-first and stop at a watermark.
-- watermark: the newest updated_at Upvest listed when the run started. An incremental run
-- fetches everything updated since the last successful run's watermark (minus a safety lag),
-- so changes made while that run was walking are picked up too.
-- since: for an incremental run, the updated_at it walked back to.
ALTER TABLE "sync_runs" ADD COLUMN "watermark" TIMESTAMPTZ(6);
ALTER TABLE "sync_runs" ADD COLUMN "since" TIMESTAMPTZ(6);
CREATE INDEX "sync_runs_succeeded_finished_at_idx" ON "sync_runs" ("finished_at" DESC) WHERE "status" = 'succeeded';
