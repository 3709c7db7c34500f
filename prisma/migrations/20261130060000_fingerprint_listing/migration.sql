-- A page served again exactly as a full run last wrote it is recorded without its records
-- being decoded at all: what it listed (its ids, first and last, and how many) is kept with its
-- fingerprint, and copied into the run's bookkeeping from here.
--
-- Fingerprints stored before this knew none of it: forget them, and the next full run
-- decodes, validates and writes each page once more (it changes no mirror row that is as
-- served), storing them anew.
DELETE FROM "sync_page_fingerprints";

ALTER TABLE "sync_page_fingerprints"
    ADD COLUMN "item_count"  INTEGER NOT NULL,
    ADD COLUMN "first_id"    TEXT,
    ADD COLUMN "last_id"     TEXT,
    ADD COLUMN "account_ids" UUID[] NOT NULL;
