// The change feed, read side: account_status_changes by increasing id from a consumer's cursor.
// Ids are safe to use as a cursor because the writer makes them visible in id order (see
// src/db/feed.ts and the analyst_surface migration), never reuses them and never updates a row.
import type { PrismaClient } from '../db/prisma.js';

/** One row of the feed. Ids and timestamps are kept as PostgreSQL printed them: no precision lost. */
export interface FeedChange {
  /** Decimal digits of the bigint id. */
  id: string;
  accountId: string;
  /** NULL when the sync saw the account for the first time. */
  fromStatus: string | null;
  toStatus: string;
  /** RFC 3339, UTC, microseconds. */
  changedAt: string;
  observedAt: string;
  /** sync: seen by the run syncRunId; webhook: applied from the event webhookEventId; lookup: fetched by `refresh`. */
  source: 'sync' | 'webhook' | 'lookup';
  syncRunId: string | null;
  webhookEventId: string | null;
}

export const DEFAULT_BATCH_SIZE = 1000;

/**
 * One row of the field feed (account_changes): a change of one mirrored field of an account,
 * or of one owner (field 'user', userId), with the values as JSON.
 */
export interface FieldChange {
  id: string;
  accountId: string;
  /** A column of the accounts table (name, status, extra, deleted_at, ...), or 'user'. */
  field: string;
  userId: string | null;
  /** JSON values; null when the field was empty (or the user no owner). */
  oldValue: unknown;
  newValue: unknown;
  changedAt: string;
  observedAt: string;
  source: 'sync' | 'webhook' | 'lookup';
  syncRunId: string | null;
  webhookEventId: string | null;
}

/** A feed read from a cursor: the changes with id greater than `since`, oldest first. */
export type FeedReader<T> = (prisma: PrismaClient, since: bigint, limit: number) => Promise<T[]>;

/** The field changes with id greater than `since`, oldest first, at most `limit` of them. */
export async function readFieldChanges(prisma: PrismaClient, since: bigint, limit: number = DEFAULT_BATCH_SIZE): Promise<FieldChange[]> {
  return prisma.$queryRaw<FieldChange[]>`
    SELECT c.id::text AS "id",
           c.account_id::text AS "accountId",
           c.field AS "field",
           c.user_id::text AS "userId",
           c.old_value AS "oldValue",
           c.new_value AS "newValue",
           to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "changedAt",
           to_char(c.observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "observedAt",
           c.source AS "source",
           c.sync_run_id::text AS "syncRunId",
           c.webhook_event_id::text AS "webhookEventId"
    FROM account_changes c
    WHERE c.id > ${since}::bigint
    ORDER BY c.id
    LIMIT ${limit}::int`;
}

/** One JSON line of the field feed; ids as JSON numbers from their digits, like the status feed's. */
export function fieldChangeJsonLine(change: FieldChange): string {
  return (
    `{"id":${change.id},"account_id":${JSON.stringify(change.accountId)},"field":${JSON.stringify(change.field)},` +
    `"user_id":${JSON.stringify(change.userId)},"old":${JSON.stringify(change.oldValue)},"new":${JSON.stringify(change.newValue)},` +
    `"changed_at":${JSON.stringify(change.changedAt)},"observed_at":${JSON.stringify(change.observedAt)},` +
    `"source":${JSON.stringify(change.source)},"sync_run_id":${change.syncRunId ?? 'null'},` +
    `"webhook_event_id":${JSON.stringify(change.webhookEventId)}}`
  );
}

/** One line for a person: id, when, which account, field: from -> to, from where. */
export function fieldChangeTextLine(change: FieldChange): string {
  const field = change.userId === null ? change.field : `user ${change.userId}`;
  const by = change.source === 'webhook' ? `webhook ${change.webhookEventId}` : change.source === 'lookup' ? 'lookup' : `run ${change.syncRunId}`;
  return `${change.id}\t${change.changedAt}\t${change.accountId}\t${field}: ${JSON.stringify(change.oldValue)} -> ${JSON.stringify(change.newValue)}\t${by}`;
}

/** The changes with id greater than `since`, oldest first, at most `limit` of them. */
export async function readChanges(prisma: PrismaClient, since: bigint, limit: number = DEFAULT_BATCH_SIZE): Promise<FeedChange[]> {
  // to_char rather than timestamptz: a JavaScript Date would drop the microseconds.
  return prisma.$queryRaw<FeedChange[]>`
    SELECT c.id::text AS "id",
           c.account_id::text AS "accountId",
           c.from_status AS "fromStatus",
           c.to_status AS "toStatus",
           to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "changedAt",
           to_char(c.observed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "observedAt",
           c.source AS "source",
           c.sync_run_id::text AS "syncRunId",
           c.webhook_event_id::text AS "webhookEventId"
    FROM account_status_changes c
    WHERE c.id > ${since}::bigint
    -- c.id, the bigint: a bare "id" would mean the text column of the same name above.
    ORDER BY c.id
    LIMIT ${limit}::int`;
}

/**
 * One JSON line. Ids are written as JSON numbers straight from their decimal digits, so they
 * stay exact even past 2^53 for parsers that keep big integers.
 */
export function changeJsonLine(change: FeedChange): string {
  return (
    `{"id":${change.id},"account_id":${JSON.stringify(change.accountId)},` +
    `"from_status":${JSON.stringify(change.fromStatus)},"to_status":${JSON.stringify(change.toStatus)},` +
    `"changed_at":${JSON.stringify(change.changedAt)},"observed_at":${JSON.stringify(change.observedAt)},` +
    `"source":${JSON.stringify(change.source)},"sync_run_id":${change.syncRunId ?? 'null'},` +
    `"webhook_event_id":${JSON.stringify(change.webhookEventId)}}`
  );
}

/** One line for a person: id, when, which account, from -> to, which run or webhook event. */
export function changeTextLine(change: FeedChange): string {
  const from = change.fromStatus ?? '(new)';
  const by = change.source === 'webhook' ? `webhook ${change.webhookEventId}` : change.source === 'lookup' ? 'lookup' : `run ${change.syncRunId}`;
  return `${change.id}\t${change.changedAt}\t${change.accountId}\t${from} -> ${change.toStatus}\t${by}`;
}

/**
 * Reads everything after `since` in batches, handing each change to `emit` in id order, until
 * the feed is exhausted, `limit` changes were emitted or `signal` aborts. Returns the cursor to
 * continue from and how many changes were emitted.
 */
export async function drainChanges<T extends { id: string } = FeedChange>(
  prisma: PrismaClient,
  options: {
    since: bigint;
    limit?: number;
    batchSize?: number;
    signal?: AbortSignal;
    emit: (change: T) => void | Promise<void>;
    /** The feed to read: the status changes unless said otherwise. */
    read?: FeedReader<T>;
  },
): Promise<{ cursor: bigint; emitted: number; exhausted: boolean }> {
  const read = options.read ?? (readChanges as unknown as FeedReader<T>);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  let cursor = options.since;
  let emitted = 0;
  for (;;) {
    const room = options.limit === undefined ? batchSize : Math.min(batchSize, options.limit - emitted);
    if (room <= 0 || options.signal?.aborted) return { cursor, emitted, exhausted: false };
    const batch = await read(prisma, cursor, room);
    for (const change of batch) {
      if (options.signal?.aborted) return { cursor, emitted, exhausted: false };
      await options.emit(change);
      cursor = BigInt(change.id);
      emitted += 1;
    }
    if (batch.length < room) return { cursor, emitted, exhausted: true };
  }
}
