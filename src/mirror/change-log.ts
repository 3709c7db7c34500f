// The history of what the mirror's writers change (account_changes, see the account_history
// migration) that the accounts' own trigger cannot record: owners, which syncLinks changes, and
// the source of deletions a lookup marks.
import type { Db } from '../db/prisma.js';
import { sourceOf, type WriteContext } from './mirror-writes.js';

/** A change of one owner of an account: values are {"type", "extra"} as JSON text, null when not an owner. */
export interface OwnerChange {
  accountId: string;
  userId: string;
  oldValue: string | null;
  newValue: string | null;
  /** The account's updated_at when a new version changed its owners; when seen otherwise. */
  changedAt: string;
}

/**
 * Records the owners' changes syncLinks made (see the account_history migration), under the
 * feed lock like the status changes: from here to commit, writers take turns.
 */
export async function recordOwnerChanges(db: Db, at: WriteContext, changes: ReadonlyArray<OwnerChange>): Promise<number> {
  if (changes.length === 0) return 0;
  const source = sourceOf(at);
  const changesJson = JSON.stringify(
    changes.map((c) => ({ a: c.accountId, u: c.userId, o: c.oldValue, n: c.newValue, c: c.changedAt, e: at.eventIds?.get(c.accountId) ?? null })),
  );
  return db.$executeRaw`
    INSERT INTO account_changes (account_id, field, user_id, old_value, new_value, changed_at, observed_at, source,
                                 sync_run_id, webhook_event_id)
    SELECT a, 'user', u, o::jsonb, n::jsonb, c, ${at.observedAt}, ${source}, ${source === 'sync' ? at.runId : null}::bigint,
           CASE WHEN ${source} = 'webhook' THEN e END
    FROM json_to_recordset(${changesJson}::json) AS t(a uuid, u uuid, o text, n text, c timestamptz, e uuid)
    ORDER BY c, a, u`;
}

/**
 * Marks deleted these accounts (those live), for a lookup answered 404 from a route shown to
 * work; the accounts' trigger records each deletion with source 'lookup'. Returns the ids marked.
 */
export async function markDeletedByLookup(db: Db, ids: readonly string[], at: Date): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.$queryRaw<Array<{ id: string }>>`
    WITH source AS MATERIALIZED (SELECT set_config('account_sync.change_source', 'lookup', true))
    UPDATE accounts a SET deleted_at = ${at}
    FROM source
    WHERE a.id = ANY(${ids as string[]}::uuid[]) AND a.deleted_at IS NULL
    RETURNING a.id::text AS id`;
  return new Set(rows.map((row) => row.id));
}
