-- Bad data never stops the mirror (issue 8).

-- A record kept aside is stored losslessly when it fits within 64 KiB and 64 levels of nesting;
-- otherwise what fits is kept and this says so.
ALTER TABLE "rejected_records" ADD COLUMN "raw_truncated" BOOLEAN NOT NULL DEFAULT false;
COMMENT ON COLUMN "rejected_records"."raw_truncated" IS
    'true when raw holds only part of the record as served (larger than 64 KiB, or nested deeper than 64 levels).';

-- Records kept aside without a usable id, per committed page: while a run has any, it cannot
-- prove which accounts Upvest lists, so it marks none deleted.
ALTER TABLE "sync_run_pages" ADD COLUMN "unidentified" INTEGER NOT NULL DEFAULT 0;

-- Validation is stricter now (field lengths, unpaired surrogates, timestamp ranges). A page
-- recognised by its fingerprint is not validated again, so forget every fingerprint: the next
-- full run validates and writes each page once more.
DELETE FROM "sync_page_fingerprints";
