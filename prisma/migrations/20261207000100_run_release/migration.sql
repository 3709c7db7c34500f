-- Which release of account-sync started each run: its version, with the commit it was built
-- from as semver build metadata when the build recorded one (0.2.0+<commit>). Null for runs
-- started by releases before 0.2.0, which did not say. Nullable and without a default, so that
-- a release before this one keeps inserting runs during a rolling deploy.
ALTER TABLE "sync_runs" ADD COLUMN "release" TEXT;
