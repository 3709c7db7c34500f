// A first sync into an empty mirror builds the mirror's secondary indexes once, after its walk,
// instead of inserting a million random keys into each of them row by row: together with the
// primary keys they outgrow PostgreSQL's buffer cache, and at 1,000,000 accounts maintaining
// them cost about a tenth of the sync (a build of all five takes 2-3 s). Only non-unique
// indexes are dropped, so no constraint, no ON CONFLICT and no foreign key changes meaning.
//
// Crash safety: the indexes' definitions are stored (sync_deferred_indexes) in the transaction
// that drops them, and every run starts by building whatever is stored there, so a run killed
// in between leaves them to the next. The index the sync itself reads (a changed account's
// last status, for upserts and webhooks) is never dropped.
import { escapeIdentifier } from 'pg';
import type { Db, PrismaClient } from '../db/prisma.js';
import { sqlStateOf } from '../db/transactions.js';
import type { Logger } from '../logger.js';

/**
 * Indexes for analysts' queries that no statement of the sync or the webhook path reads while
 * a first sync runs. account_status_changes_account_id_changed_at_idx is not among them: an
 * upsert of an account already stored, or a webhook's, looks up the account's last status by it.
 */
export const DEFERRABLE_INDEXES = [
  'accounts_status_live_idx',
  'accounts_account_group_id_idx',
  'accounts_created_at_idx',
  'account_users_user_id_idx',
  'account_status_changes_to_status_changed_at_idx',
  'account_status_changes_sync_run_id_idx',
] as const;

/** How long dropping waits for a lock (an analyst's open transaction): past it, what was to go is kept. */
const DROP_LOCK_TIMEOUT = '2s';

/**
 * In the transaction that drops indexes or keys for a first sync: bounds how long its drops wait
 * for a lock, and says whether the mirror holds no row yet (only then may anything be dropped).
 */
export async function emptyMirrorToDropFrom(tx: Db, lockTimeout: string = DROP_LOCK_TIMEOUT): Promise<boolean> {
  await tx.$queryRaw`SELECT set_config('lock_timeout', ${lockTimeout}, true)`;
  const [mirror] = await tx.$queryRaw<Array<{ empty: boolean }>>`
    SELECT NOT EXISTS (SELECT 1 FROM accounts) AND NOT EXISTS (SELECT 1 FROM users)
       AND NOT EXISTS (SELECT 1 FROM account_users) AND NOT EXISTS (SELECT 1 FROM account_status_changes) AS empty`;
  return mirror?.empty === true;
}

/**
 * Drops the deferrable indexes when the mirror is empty, storing their definitions; how many
 * it dropped. Anything in the way (a lock not granted in time, a role that does not own the
 * tables) leaves every index in place: the sync is then only slower.
 */
export async function deferIndexes(prisma: PrismaClient, runId: bigint, logger: Logger, options: { lockTimeout?: string } = {}): Promise<number> {
  try {
    const dropped = await prisma.$transaction(async (tx) => {
      if (!(await emptyMirrorToDropFrom(tx, options.lockTimeout))) return 0;
      const deferred = await tx.$queryRaw<Array<{ index_name: string }>>`
        INSERT INTO sync_deferred_indexes (index_name, table_name, definition, sync_run_id)
        SELECT i.relname, t.relname, pg_get_indexdef(i.oid), ${runId}::bigint
        FROM pg_class i
        JOIN pg_index x ON x.indexrelid = i.oid
        JOIN pg_class t ON t.oid = x.indrelid
        WHERE i.relname = ANY(${[...DEFERRABLE_INDEXES]}::text[]) AND i.relnamespace = current_schema()::regnamespace
          AND x.indisvalid AND NOT x.indisunique
        ON CONFLICT (index_name) DO NOTHING
        RETURNING index_name`;
      for (const { index_name } of deferred) await tx.$executeRawUnsafe(`DROP INDEX ${escapeIdentifier(index_name)}`);
      return deferred.length;
    }, { maxWait: 10_000, timeout: 60_000 });
    if (dropped > 0) logger.info({ indexes: dropped }, 'secondary indexes dropped until the walk is over (the mirror was empty)');
    return dropped;
  } catch (error) {
    logger.info({ sqlState: sqlStateOf(error), error: (error as Error).message }, 'secondary indexes kept during the first sync');
    return 0;
  }
}

/**
 * Builds every index stored as deferred (by this run, or by one killed before it could), in
 * one transaction: all of them or none. Writers to the tables wait while it builds.
 */
export async function buildDeferredIndexes(prisma: PrismaClient, logger: Logger): Promise<number> {
  const started = performance.now();
  const built = await prisma.$transaction(
    async (tx) => {
      // An index someone built again by hand is not built twice.
      const deferred = await tx.$queryRaw<Array<{ definition: string; present: boolean }>>`
        DELETE FROM sync_deferred_indexes RETURNING definition, to_regclass(quote_ident(index_name)) IS NOT NULL AS present`;
      for (const { definition, present } of deferred) if (!present) await tx.$executeRawUnsafe(definition);
      return deferred.length;
    },
    { maxWait: 30_000, timeout: 30 * 60_000 },
  );
  if (built > 0) logger.info({ indexes: built, ms: Math.round(performance.now() - started) }, 'secondary indexes built');
  return built;
}
