// The mirror's deletion marks: the accounts a run found gone, marked deleted, and the live
// accounts none of a run's pages lists (those a complete, consistent full walk marks). Set-based
// raw SQL: the anti-join against a million listed ids is planned by hand (withoutNestedLoops).
import { Prisma, type Db } from '../db/prisma.js';

/**
 * Live accounts, first seen before the run began, that no page of the run lists (an account a
 * webhook brought in after the walk passed its place could not have been listed).
 */
function unlistedLive(runId: bigint): Prisma.Sql {
  return Prisma.sql`a.deleted_at IS NULL
      AND a.first_seen_at < (SELECT started_at FROM sync_runs WHERE id = ${runId})
      AND NOT EXISTS (SELECT 1 FROM sync_run_pages p, unnest(p.account_ids) AS id WHERE p.sync_run_id = ${runId} AND id = a.id)`;
}

/**
 * Runs `statement` with nested loops ruled out, in a transaction (`db`'s, or one of its own).
 * The anti-join of unlistedLive is meant to be hashed, straight against the pages' ids: no
 * DISTINCT over a million of them first (half the time). The planner cannot know how many ids
 * the arrays hold; a nested loop over them would read every page once per account.
 */
async function withoutNestedLoops<T>(db: Db, statement: (q: Db) => Promise<T>): Promise<T> {
  const run = async (q: Db) => {
    // Without nested loops the plan's cost estimate is vast, which would have PostgreSQL
    // compile it (JIT) for about 0.1 s: a hash join over a million ids gains nothing from that.
    const [before] = await q.$queryRaw<Array<{ jit: string }>>`
      SELECT current_setting('jit') AS jit, set_config('enable_nestloop', 'off', true) AS nestloop, set_config('jit', 'off', true) AS off`;
    const result = await statement(q);
    await q.$queryRaw`SELECT set_config('enable_nestloop', 'on', true) AS nestloop, set_config('jit', ${before!.jit}, true) AS jit`;
    return result;
  };
  return '$transaction' in db ? db.$transaction((tx) => run(tx)) : run(db);
}

/** Up to `limit` live accounts that no page of the run lists. */
export async function unlistedLiveAccounts(db: Db, runId: bigint, limit: number): Promise<string[]> {
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    SELECT a.id::text AS id FROM accounts a WHERE ${unlistedLive(runId)}
    ORDER BY a.id
    LIMIT ${limit}::int`;
  return rows.map((row) => row.id);
}

/** How many live accounts no page of the run lists. */
export async function unlistedLiveCount(db: Db, runId: bigint): Promise<number> {
  return withoutNestedLoops(db, async (q) => {
    const [row] = await q.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM accounts a WHERE ${unlistedLive(runId)}`;
    return row!.n;
  });
}

/** Marks these accounts deleted (those still live). */
export async function markDeleted(db: Db, runId: bigint, ids: readonly string[], at: Date): Promise<number> {
  if (ids.length === 0) return 0;
  return db.$executeRaw`
    UPDATE accounts SET deleted_at = ${at}, last_sync_run_id = ${runId}
    WHERE id = ANY(${ids}::uuid[]) AND deleted_at IS NULL`;
}

/**
 * Marks deleted every live account the run's pages do not list. Only after a complete and
 * consistent walk of the whole list, which is the caller's to judge.
 */
export async function markUnlistedDeleted(db: Db, runId: bigint, at: Date): Promise<number> {
  return withoutNestedLoops(
    db,
    (q) => q.$executeRaw`UPDATE accounts a SET deleted_at = ${at}, last_sync_run_id = ${runId} WHERE ${unlistedLive(runId)}`,
  );
}
