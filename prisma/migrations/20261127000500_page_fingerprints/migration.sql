-- What each page of the oldest-first walk held when a full run last wrote it, so that a page
-- served again exactly as before is recognised at once instead of account by account: an
-- unchanged page then costs one small statement. Bookkeeping, not part of the mirror.
CREATE TABLE "sync_page_fingerprints" (
    "page_offset" INTEGER NOT NULL,
    "page_limit"  INTEGER NOT NULL,
    -- SHA-256 (base64) of the page's account records exactly as Upvest served them.
    "fingerprint" TEXT NOT NULL,
    "sync_run_id" BIGINT NOT NULL,
    CONSTRAINT "sync_page_fingerprints_pkey" PRIMARY KEY ("page_offset", "page_limit"),
    CONSTRAINT "sync_page_fingerprints_sync_run_id_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "sync_runs" ("id") ON DELETE CASCADE
);
