-- A run stopped on purpose (shutdown) is 'interrupted': its committed pages are kept and the
-- next start resumes it, under the same id, from its last committed page.
ALTER TABLE "sync_runs" DROP CONSTRAINT "sync_runs_status_check";
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_status_check"
    CHECK ("status" IN ('running', 'succeeded', 'failed', 'interrupted'));
