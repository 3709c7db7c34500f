// The statements that write the mirror: accounts, users and links, status changes. Set-based:
// one statement per kind whatever the number of accounts; an unchanged account causes no row
// write. Every page transaction takes its locks in the same order (accounts, then users and
// links, each sorted by id, then the feed lock), so parallel writers cannot deadlock.
//
// A note on lookups. The planner cannot know how many rows a JSON parameter holds (it assumes
// 100), and between ANALYZEs it can think the mirror's tables far smaller than they are; then it
// joins a page against a sequential scan of the whole table, and each page costs a read of all
// accounts. Lookups of stored rows are therefore written as LATERAL subqueries with a LIMIT,
// which the planner cannot turn into joins: one index probe per row, always.
import { FEED_CHANNEL, FEED_LOCK_KEY } from '../db/feed.js';
import { Prisma, type Db } from '../db/prisma.js';
import type { AccountRecord } from '../upvest/schema.js';
import type { OwnerChange } from './change-log.js';
import { ACCOUNT_COLUMNS } from './columns.js';
import { jsonStringLiteral, jsonText } from './json-text.js';
import { sourceOf, type WriteContext } from './write-context.js';

export { sourceOf, type ChangeSource, type WriteContext } from './write-context.js';

const DATA_COLUMNS = ACCOUNT_COLUMNS.filter((c) => c.column !== 'id').map((c) => c.column);
const sql = (text: string) => Prisma.raw(text);
/** `(a.x, a.y, ...)` of the data columns, plus deleted_at: a live row equal to the record is unchanged. */
const tupleOf = (alias: string, deletedAt: string) => `(${[...DATA_COLUMNS.map((c) => `${alias}.${c}`), deletedAt].join(', ')})`;
// The parameter's keys are one letter each: the names would make up half of its text.
const RECORDSET_TYPE = sql([...ACCOUNT_COLUMNS.map((c) => `${c.key} ${c.type}`), 'l json', 'e uuid'].join(', '));
const RECORDSET_NAMES = sql([...ACCOUNT_COLUMNS.map((c) => `${c.key} AS ${c.column}`), 'l AS users', 'e AS webhook_event_id'].join(', '));
const INPUT_COLUMNS = sql(ACCOUNT_COLUMNS.map((c) => c.column).join(', '));
const STORED_DIFFERS_FROM_INPUT = sql(`${tupleOf('a', 'a.deleted_at')} IS DISTINCT FROM ${tupleOf('i', 'NULL::timestamptz')}`);
const STORED_DIFFERS_FROM_EXCLUDED = sql(`${tupleOf('a', 'a.deleted_at')} IS DISTINCT FROM ${tupleOf('EXCLUDED', 'NULL::timestamptz')}`);
const SET_FROM_EXCLUDED = sql(DATA_COLUMNS.map((c) => `${c} = EXCLUDED.${c}`).join(',\n        '));
const KEYS = ACCOUNT_COLUMNS.map((c, i) => `${i === 0 ? '' : ','}"${c.key}":`);

/**
 * One JSON parameter for the whole set, users included: PostgreSQL parses it faster than the
 * driver serialises arrays. Written by hand rather than through objects and JSON.stringify,
 * which allocated a copy of every account per page.
 */
function accountsJsonOf(accounts: ReadonlyArray<AccountRecord>, eventIds: ReadonlyMap<string, string> | undefined): string {
  const parts: string[] = ['['];
  for (const [n, a] of accounts.entries()) {
    parts.push(n === 0 ? '{' : ',{');
    ACCOUNT_COLUMNS.forEach((c, i) => {
      const v = c.of(a);
      parts.push(KEYS[i]!, c.json === 'plain' ? `"${v}"` : c.json === 'number' ? String(v) : c.json === 'raw' ? jsonText(v as string | null) : jsonStringLiteral(v as string));
    });
    parts.push(',"l":', usersJsonOf(a));
    const eventId = eventIds?.get(a.id);
    parts.push(eventId === undefined ? '}' : `,"e":"${eventId}"}`);
  }
  parts.push(']');
  return parts.join('');
}

function usersJsonOf(a: AccountRecord): string {
  let out = '[';
  for (const [i, u] of a.users.entries()) {
    out += `${i === 0 ? '' : ','}{"id":"${u.id}","type":${jsonStringLiteral(u.type)}${u.extra == null ? '' : `,"extra":${jsonText(u.extra)}`}}`;
  }
  return `${out}]`;
}

function linksJsonOf(accounts: ReadonlyArray<AccountRecord>): string {
  // extra is JSON text already: parsed back so as to be written as the value it is.
  return JSON.stringify(
    accounts.flatMap((a) => a.users.map((u) => ({ account_id: a.id, user_id: u.id, type: u.type, extra: u.extra == null ? null : JSON.parse(u.extra) }))),
  );
}

export interface WrittenRow {
  id: string;
  from_status: string | null;
  to_status: string;
  changed_at: string;
  inserted: boolean;
  /** Written over an older updated_at (or inserted): a new version, not the same one served differently. */
  newVersion?: boolean;
}

/**
 * Upserts the accounts, and gives the accounts it creates their users and links. Every part
 * of the WITH reads the rows as they were before the statement (one snapshot); its from_status
 * is that snapshot's, good for counting, while recordStatusChanges takes the status a change
 * comes from from the history (a parallel writer may have committed since the snapshot). Rows
 * that would not change are filtered out before the INSERT ... ON CONFLICT, which would
 * otherwise lock (and so dirty) every row it looks at. An older version than the stored one (fetched before a newer one was written) is never
 * written over the newer. An account this statement creates cannot have links yet (a parallel
 * writer that lists it too waits for this transaction), so its links are simply inserted; those
 * of known accounts are compared by syncLinks.
 */
export async function upsertAccounts(db: Db, at: WriteContext, accounts: ReadonlyArray<AccountRecord>): Promise<WrittenRow[]> {
  // The pairing of written rows with their previous status is done here rather than by a join
  // whose plan would depend on the row estimates (see the note on lookups).
  const rows = await db.$queryRaw<
    Array<{ kind: 'written' | 'previous'; id: string; status: string | null; changed_at: string | null; inserted: boolean | null; newer: boolean | null }>
  >`
    WITH input AS (
      SELECT ${RECORDSET_NAMES} FROM json_to_recordset(${accountsJsonOf(accounts, at.eventIds)}::json) AS t(${RECORDSET_TYPE}),
      -- Whose version this is, for the history the accounts' trigger records at commit (see
      -- the account_history migration): for the rest of the transaction.
      (SELECT set_config('account_sync.change_source', ${sourceOf(at)}, true)) AS source
    ),
    compared AS (
      SELECT i.*, a.id IS NOT NULL AS known, a.status AS previous_status, i.updated_at > a.updated_at AS newer,
             (a.id IS NULL OR (i.updated_at >= a.updated_at AND ${STORED_DIFFERS_FROM_INPUT})) AS differs
      FROM input i LEFT JOIN LATERAL (SELECT * FROM accounts a WHERE a.id = i.id LIMIT 1) a ON true
    ),
    written AS (
      INSERT INTO accounts AS a (${INPUT_COLUMNS}, first_seen_at, last_seen_at, deleted_at, last_sync_run_id, last_webhook_event_id)
      SELECT ${INPUT_COLUMNS}, ${at.observedAt}, ${at.observedAt}, NULL, ${at.runId}::bigint, webhook_event_id
      FROM compared WHERE differs ORDER BY id
      ON CONFLICT (id) DO UPDATE SET
        ${SET_FROM_EXCLUDED},
        last_seen_at = EXCLUDED.last_seen_at,
        deleted_at = NULL,
        -- Each names the last writer of its kind: a webhook leaves the last sync run as it was.
        last_sync_run_id = coalesce(EXCLUDED.last_sync_run_id, a.last_sync_run_id),
        last_webhook_event_id = coalesce(EXCLUDED.last_webhook_event_id, a.last_webhook_event_id)
      -- Checked again against the row as it is now: a parallel page may have just written it.
      WHERE EXCLUDED.updated_at >= a.updated_at AND ${STORED_DIFFERS_FROM_EXCLUDED}
      RETURNING a.id, a.status, a.updated_at, (a.xmax = 0) AS inserted
    ),
    wanted AS (
      SELECT w.id AS account_id, u.id AS user_id, u.type, u.extra
      FROM written w JOIN input i ON i.id = w.id, json_to_recordset(i.users) AS u(id uuid, type text, extra jsonb)
      WHERE w.inserted
    ),
    ${newUsersOf(at)},
    new_links AS (
      INSERT INTO account_users (account_id, user_id, type, extra)
      SELECT account_id, user_id, type, extra FROM wanted ORDER BY 1, 2
      ON CONFLICT (account_id, user_id) DO NOTHING
    )
    SELECT 'written' AS kind, id::text AS id, status, updated_at::text AS changed_at, inserted, NULL::boolean AS newer FROM written
    UNION ALL
    SELECT 'previous', id::text, previous_status, NULL, NULL, newer FROM compared WHERE differs AND known`;
  const previous = new Map<string, { status: string | null; newer: boolean }>();
  for (const row of rows) if (row.kind === 'previous') previous.set(row.id, { status: row.status, newer: row.newer === true });
  return rows
    .filter((row) => row.kind === 'written')
    .map((row) => ({
      id: row.id,
      from_status: previous.get(row.id)?.status ?? null,
      to_status: row.status!,
      changed_at: row.changed_at!,
      inserted: row.inserted!,
      newVersion: row.inserted! || previous.get(row.id)?.newer === true,
    }));
}

/** An account record back in the shape Upvest serves it, for keeping it aside. */
export function upvestShapeOf(a: AccountRecord): Record<string, unknown> {
  const known = Object.fromEntries(ACCOUNT_COLUMNS.filter((c) => c.column !== 'extra').map((c) => [c.column, c.of(a)]));
  const users = a.users.map((u) => ({ ...(u.extra == null ? {} : JSON.parse(u.extra)), id: u.id, type: u.type }));
  return { ...(a.extra == null ? {} : JSON.parse(a.extra)), ...known, users };
}

/**
 * Makes account_users each account's current list, creating users first seen. A statement of
 * its own, after the accounts: every page transaction takes its locks in the same order
 * (accounts, then users and links, each sorted), so parallel pages cannot deadlock, and a page
 * that waited for a parallel one to commit an account sees that page's links too.
 * Only accounts whose stored version is the one on the page are touched. Returns the owners
 * that changed (recordOwnerChanges records them, last, under the feed lock).
 */
export async function syncLinks(
  db: Db,
  at: WriteContext,
  accounts: ReadonlyArray<AccountRecord>,
  newVersions: ReadonlySet<string> = new Set(),
): Promise<OwnerChange[]> {
  // A change of owners is dated by the version that made it; one of a version already stored
  // (a field the API added to users) by when it was seen, as the accounts' trigger does.
  const accountsJson = JSON.stringify(
    accounts.map((a) => ({ id: a.id, updated_at: a.updatedAt, changed_at: newVersions.has(a.id) ? a.updatedAt : at.observedAt.toISOString() })),
  );
  const linksJson = linksJsonOf(accounts);
  return db.$queryRaw<OwnerChange[]>`
    WITH current AS (
      SELECT a.id, i.changed_at FROM json_to_recordset(${accountsJson}::json) AS i(id uuid, updated_at timestamptz, changed_at timestamptz)
      JOIN LATERAL (SELECT a.id, a.updated_at FROM accounts a WHERE a.id = i.id AND a.updated_at = i.updated_at LIMIT 1) a ON true
    ),
    wanted AS (
      SELECT l.* FROM json_to_recordset(${linksJson}::json) AS l(account_id uuid, user_id uuid, type text, extra jsonb)
      JOIN current c ON c.id = l.account_id
    ),
    existing AS (
      SELECT au.* FROM current c
      JOIN LATERAL (SELECT * FROM account_users au WHERE au.account_id = c.id LIMIT 10000) au ON true
    ),
    ${newUsersOf(at)},
    -- EXCEPT is hashed whatever the row estimates; an anti-join on them may not be.
    removed AS (
      DELETE FROM account_users au
      USING (SELECT account_id, user_id FROM existing EXCEPT SELECT account_id, user_id FROM wanted) gone
      WHERE au.account_id = gone.account_id AND au.user_id = gone.user_id
      RETURNING au.account_id, au.user_id, au.type, au.extra
    ),
    fresh AS (
      SELECT account_id, user_id, type, extra FROM wanted EXCEPT SELECT account_id, user_id, type, extra FROM existing
    ),
    added AS (
      INSERT INTO account_users AS au (account_id, user_id, type, extra)
      SELECT account_id, user_id, type, extra FROM fresh
      ORDER BY 1, 2
      ON CONFLICT (account_id, user_id) DO UPDATE SET type = EXCLUDED.type, extra = EXCLUDED.extra
      WHERE (au.type, au.extra) IS DISTINCT FROM (EXCLUDED.type, EXCLUDED.extra)
      RETURNING au.account_id, au.user_id, au.type, au.extra
    ),
    changed AS (
      SELECT account_id, user_id, type, extra, NULL::text AS new_type, NULL::jsonb AS new_extra, false AS owner FROM removed
      UNION ALL
      SELECT ad.account_id, ad.user_id, e.type, e.extra, ad.type, ad.extra, true
      FROM added ad LEFT JOIN existing e ON e.account_id = ad.account_id AND e.user_id = ad.user_id
    )
    SELECT ch.account_id::text AS "accountId", ch.user_id::text AS "userId",
           CASE WHEN ch.type IS NULL THEN NULL ELSE jsonb_build_object('type', ch.type, 'extra', ch.extra)::text END AS "oldValue",
           CASE WHEN ch.owner THEN jsonb_build_object('type', ch.new_type, 'extra', ch.new_extra)::text END AS "newValue",
           to_char(c.changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "changedAt"
    FROM changed ch JOIN current c ON c.id = ch.account_id
    ORDER BY 1, 2`;
}

/** The CTE that stores the users of the links in `wanted` not seen before. */
function newUsersOf(at: WriteContext): Prisma.Sql {
  return Prisma.sql`new_users AS (
      INSERT INTO users (id, first_seen_at, last_seen_at)
      SELECT DISTINCT w.user_id, ${at.observedAt}::timestamptz, ${at.observedAt}::timestamptz FROM wanted w
      LEFT JOIN LATERAL (SELECT u.id FROM users u WHERE u.id = w.user_id LIMIT 1) known ON true
      WHERE known.id IS NULL
      ORDER BY 1
      ON CONFLICT (id) DO NOTHING
    )`;
}

/**
 * The status changes the written rows made, with the feed lock held from before the first id is
 * drawn until commit. Pass every row upsertAccounts wrote: a change comes from the status the
 * account's history last recorded, not from the upsert's snapshot. A parallel writer (a webhook
 * event and a sync page, or two pages) may have committed a version of the account after that
 * snapshot was taken: the upsert waited for its row lock and wrote over that version, whose
 * status the snapshot never showed. Its history is in this statement's snapshot all the same
 * (it committed before the upsert got the lock), and it ends in the status the row had, since
 * every write records its change. An account this transaction inserted has no history.
 */
export async function recordStatusChanges(db: Db, at: WriteContext, written: ReadonlyArray<WrittenRow>): Promise<number> {
  if (written.length === 0) return 0;
  // One-letter keys, as for the accounts; statuses are escaped as they are everywhere else.
  const changesJson = `[${written
    .map((c) => {
      const eventId = at.eventIds?.get(c.id);
      return `{"i":"${c.id}","n":${c.inserted},"t":${jsonStringLiteral(c.to_status)},"c":"${c.changed_at}","e":${eventId === undefined ? 'null' : `"${eventId}"`}}`;
    })
    .join(',')}]`;
  const source = sourceOf(at);
  // The lock (see FEED_LOCK_KEY) is joined in, so it is held before the first id is drawn,
  // and until commit: ids become visible in the order they were handed out.
  const [inserted] = await db.$queryRaw<Array<{ count: number }>>`
    WITH feed_lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(${FEED_LOCK_KEY}) AS locked),
    written AS (
      SELECT w.i, w.t, w.c, w.e,
             CASE WHEN w.n THEN NULL
                  ELSE (SELECT s.to_status FROM account_status_changes s WHERE s.account_id = w.i
                        ORDER BY s.changed_at DESC, s.id DESC LIMIT 1) END AS f
      FROM feed_lock, json_to_recordset(${changesJson}::json) AS w(i uuid, n boolean, t text, c timestamptz, e uuid)
    ),
    added AS (
      INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id,
                                          source, webhook_event_id)
      -- Sorted in a subquery: ids are drawn above it, so they follow changed_at.
      SELECT i, f, t, c, ${at.observedAt}, ${at.runId}::bigint, ${source}, e
      FROM (SELECT * FROM written WHERE f IS DISTINCT FROM t ORDER BY c, i) AS sorted
      RETURNING id
    ),
    summary AS (SELECT count(*)::int AS count, max(id)::text AS max_id FROM added)
    SELECT count
    FROM summary
    -- Written rows need not make a change (a rename): no notification without one.
    LEFT JOIN LATERAL (SELECT pg_notify(${FEED_CHANNEL},
                         json_build_object('source', ${source}::text, 'sync_run_id', ${at.runId === null ? null : String(at.runId)}::text,
                                           'max_id', max_id, 'count', count)::text)
                       WHERE count > 0) AS notified ON true`;
  return inserted?.count ?? 0;
}
