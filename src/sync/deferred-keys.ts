// A first sync into an empty mirror checks its foreign keys once, at the end, as it builds its
// secondary indexes once: every row COPY loads would otherwise look up its account, its user or
// its run, and lock that row FOR KEY SHARE, which writers sharing users then queue on. The keys
// of the mirror's tables are dropped with the indexes, added back NOT VALID once the walk is
// over (from then on every new row is checked), and validated in one pass each.
//
// Crash safety: their definitions are stored (sync_deferred_foreign_keys) in the transaction that
// drops them, and each is forgotten only in the transaction that validates it; every run starts
// by restoring whatever is stored, so a run killed at any point leaves them to the next.
//
// A row that fails validation is settled, never kept as it is: a link whose user is missing
// (its batch committed, the process killed before the users it names were written) gets the
// user back; any other row is moved to rejected_records with the reason.
import { escapeIdentifier } from 'pg';
import type { PrismaClient } from '../db/prisma.js';
import { sqlStateOf } from '../db/transactions.js';
import type { Logger } from '../logger.js';
import { emptyMirrorToDropFrom } from './deferred-indexes.js';

/** Tables whose foreign keys a first sync defers, in the order their keys are restored. */
export const KEYED_TABLES = ['accounts', 'account_users', 'account_status_changes'] as const;

/**
 * Drops the foreign keys of the mirror's tables when the mirror is empty, storing their
 * definitions; how many it dropped. Anything in the way leaves every key in place.
 */
export async function deferForeignKeys(prisma: PrismaClient, runId: bigint, logger: Logger, options: { lockTimeout?: string } = {}): Promise<number> {
  try {
    const dropped = await prisma.$transaction(async (tx) => {
      if (!(await emptyMirrorToDropFrom(tx, options.lockTimeout))) return 0;
      const deferred = await tx.$queryRaw<Array<{ constraint_name: string; table_name: string }>>`
        INSERT INTO sync_deferred_foreign_keys (constraint_name, table_name, definition, sync_run_id)
        SELECT c.conname, t.relname, pg_get_constraintdef(c.oid), ${runId}::bigint
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE c.contype = 'f' AND t.relname = ANY(${[...KEYED_TABLES]}::text[]) AND t.relnamespace = current_schema()::regnamespace
        ON CONFLICT (constraint_name) DO NOTHING
        RETURNING constraint_name, table_name`;
      for (const { constraint_name, table_name } of deferred) {
        await tx.$executeRawUnsafe(`ALTER TABLE ${escapeIdentifier(table_name)} DROP CONSTRAINT ${escapeIdentifier(constraint_name)}`);
      }
      return deferred.length;
    }, { maxWait: 10_000, timeout: 60_000 });
    if (dropped > 0) logger.info({ foreignKeys: dropped }, 'foreign keys dropped until the walk is over (the mirror was empty)');
    return dropped;
  } catch (error) {
    logger.info({ sqlState: sqlStateOf(error), error: (error as Error).message }, 'foreign keys kept during the first sync');
    return 0;
  }
}

interface Deferred {
  constraint_name: string;
  table_name: string;
  definition: string;
}

/** What restoring the stored keys did: keys validated, rows settled. */
export interface KeysRestored {
  restored: number;
  usersRecreated: number;
  keptAside: number;
}

/**
 * Adds back every stored key (NOT VALID, unless a killed run already added it) and validates
 * each, settling the rows that fail; `runId` is the run the rows kept aside are recorded under.
 */
export async function restoreForeignKeys(prisma: PrismaClient, runId: bigint, logger: Logger): Promise<KeysRestored> {
  const stored = await prisma.$queryRaw<Deferred[]>`
    SELECT constraint_name, table_name, definition FROM sync_deferred_foreign_keys
    ORDER BY array_position(${[...KEYED_TABLES]}::text[], table_name), constraint_name`;
  const result: KeysRestored = { restored: 0, usersRecreated: 0, keptAside: 0 };
  if (stored.length === 0) return result;
  const started = performance.now();
  for (const key of stored) {
    const [present] = await prisma.$queryRaw<Array<{ valid: boolean }>>`
      SELECT convalidated AS valid FROM pg_constraint
      WHERE conname = ${key.constraint_name} AND conrelid = to_regclass(quote_ident(${key.table_name}))`;
    if (present === undefined) {
      // Checks every row written from now on; the rows already there are validated below.
      await prisma.$executeRawUnsafe(`ALTER TABLE ${escapeIdentifier(key.table_name)} ADD CONSTRAINT ${escapeIdentifier(key.constraint_name)} ${key.definition} NOT VALID`);
    }
    logger.info({ constraint: key.constraint_name }, 'validating foreign key');
    if (!(await validate(prisma, key))) {
      const settled = await settle(prisma, key, runId, logger);
      result.usersRecreated += settled.usersRecreated;
      result.keptAside += settled.keptAside;
      // NOT VALID already checks every newer row: what was settled is all there was.
      if (!(await validate(prisma, key))) throw new Error(`foreign key ${key.constraint_name} still fails validation once settled`);
    }
    result.restored++;
    logger.info({ constraint: key.constraint_name }, 'foreign key validated');
  }
  logger.info({ ...result, ms: Math.round(performance.now() - started) }, 'foreign keys restored and validated');
  return result;
}

/** Validates the key and forgets it, in one transaction; false when a row fails it. */
async function validate(prisma: PrismaClient, key: Deferred): Promise<boolean> {
  try {
    await prisma.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe(`ALTER TABLE ${escapeIdentifier(key.table_name)} VALIDATE CONSTRAINT ${escapeIdentifier(key.constraint_name)}`);
        await tx.$executeRaw`DELETE FROM sync_deferred_foreign_keys WHERE constraint_name = ${key.constraint_name}`;
      },
      { maxWait: 30_000, timeout: 30 * 60_000 },
    );
    return true;
  } catch (error) {
    if (sqlStateOf(error) === FOREIGN_KEY_VIOLATION) return false;
    throw error;
  }
}

const FOREIGN_KEY_VIOLATION = '23503';

/** Settles the rows that fail `key`: users re-created for their links, anything else kept aside. */
async function settle(prisma: PrismaClient, key: Deferred, runId: bigint, logger: Logger): Promise<{ usersRecreated: number; keptAside: number }> {
  const [columns] = await prisma.$queryRaw<Array<{ child: string; parent: string; parent_table: string }>>`
    SELECT a.attname AS child, b.attname AS parent, p.relname AS parent_table
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    JOIN pg_attribute b ON b.attrelid = c.confrelid AND b.attnum = c.confkey[1]
    JOIN pg_class p ON p.oid = c.confrelid
    WHERE c.conname = ${key.constraint_name} AND c.conrelid = to_regclass(quote_ident(${key.table_name}))`;
  if (columns === undefined) throw new Error(`foreign key ${key.constraint_name} not found to settle`);
  const child = `${escapeIdentifier(key.table_name)}.${escapeIdentifier(columns.child)}`;
  const missing = `${child} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ${escapeIdentifier(columns.parent_table)} p WHERE p.${escapeIdentifier(columns.parent)} = ${child})`;
  if (key.table_name === 'account_users' && columns.parent_table === 'users') {
    // The link is what Upvest listed; the user row only says that the user exists.
    const usersRecreated = await prisma.$executeRawUnsafe(
      `INSERT INTO users (id, first_seen_at, last_seen_at)
       SELECT DISTINCT ${child}, now(), now() FROM account_users WHERE ${missing} ORDER BY 1 ON CONFLICT (id) DO NOTHING`,
    );
    logger.warn({ constraint: key.constraint_name, users: usersRecreated }, 'users written again for links that named them');
    return { usersRecreated, keptAside: 0 };
  }
  const reason = `no ${columns.parent_table} row for ${columns.child}, found validating ${key.constraint_name}: moved aside`;
  const keptAside = await prisma.$transaction(
    async (tx) => {
      // History is append-only for everyone else; a row that names no account is not history.
      const guarded = key.table_name === 'account_status_changes';
      if (guarded) await tx.$executeRawUnsafe('ALTER TABLE account_status_changes DISABLE TRIGGER account_status_changes_append_only');
      const moved = await tx.$executeRawUnsafe(
        `WITH gone AS (DELETE FROM ${escapeIdentifier(key.table_name)} WHERE ${missing} RETURNING ${escapeIdentifier(key.table_name)}.*)
         INSERT INTO rejected_records (sync_run_id, page_offset, account_id, raw, reason)
         SELECT $1::bigint, 0, COALESCE(to_jsonb(gone) ->> 'account_id', to_jsonb(gone) ->> 'id'), to_jsonb(gone), $2 FROM gone`,
        runId,
        reason,
      );
      if (guarded) await tx.$executeRawUnsafe('ALTER TABLE account_status_changes ENABLE TRIGGER account_status_changes_append_only');
      return moved;
    },
    { maxWait: 30_000, timeout: 30 * 60_000 },
  );
  logger.warn({ constraint: key.constraint_name, rows: keptAside }, 'rows failing a foreign key moved to rejected_records');
  return { usersRecreated: 0, keptAside };
}
