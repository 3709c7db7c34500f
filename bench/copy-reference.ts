// The reference a sync is measured against: PostgreSQL's own COPY of exactly the rows the
// first sync wrote, into tables shaped and indexed like ours (a second database migrated the
// same way), through the same connection settings.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Client } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { cpuTicksOf } from './where-time-goes.js';

interface TableCopy {
  table: string;
  columns: string;
  /** What to export from the synced database. */
  select: string;
}

const TABLES: TableCopy[] = [
  {
    table: 'accounts',
    columns: 'id, account_group_id, type, name, status, account_number, created_at, updated_at, first_seen_at, last_seen_at, deleted_at, last_sync_run_id',
    select: 'SELECT id, account_group_id, type, name, status, account_number, created_at, updated_at, first_seen_at, last_seen_at, deleted_at, last_sync_run_id FROM accounts',
  },
  { table: 'users', columns: 'id, first_seen_at, last_seen_at', select: 'SELECT id, first_seen_at, last_seen_at FROM users' },
  { table: 'account_users', columns: 'account_id, user_id, type', select: 'SELECT account_id, user_id, type FROM account_users' },
  {
    table: 'account_status_changes',
    columns: 'account_id, from_status, to_status, changed_at, observed_at, sync_run_id',
    select:
      'SELECT account_id, from_status, to_status, changed_at, observed_at, sync_run_id FROM account_status_changes WHERE from_status IS NULL',
  },
];

export interface CopyReference {
  ms: number;
  /** CPU seconds of the backend that ran the COPY (read from /proc: the bench runs beside the server). */
  postgresCpuS: number | undefined;
  rows: number;
  perTable: Array<{ table: string; rows: number; ms: number }>;
}

async function exportTable(source: Client, select: string): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  const stream = source.query(copyTo(`COPY (${select}) TO STDOUT`));
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return chunks;
}

/**
 * Exports the first sync's rows from `source`, then times COPY FROM into `target` (migrated like
 * ours). Without `foreignKeys`, the target's foreign keys are dropped first: what the sync's
 * share of checking them is.
 */
export async function copyReference(source: Client, target: Client, options: { foreignKeys: boolean }): Promise<CopyReference> {
  if (!options.foreignKeys) {
    const constraints = await target.query<{ sql: string }>(
      `SELECT format('ALTER TABLE %I DROP CONSTRAINT %I', conrelid::regclass::text, conname) AS sql
       FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace`,
    );
    for (const { sql } of constraints.rows) await target.query(sql);
  }
  const exported = [];
  for (const spec of TABLES) exported.push({ spec, chunks: await exportTable(source, spec.select) });
  // The accounts and status changes point at their runs.
  const runs = await source.query<{ id: string }>('SELECT id::text FROM sync_runs');
  await target.query(
    `INSERT INTO sync_runs (id, page_size) OVERRIDING SYSTEM VALUE SELECT unnest($1::bigint[]), 1000`,
    [runs.rows.map((r) => r.id)],
  );
  const perTable: CopyReference['perTable'] = [];
  const { rows: [backend] } = await target.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const ticksBefore = cpuTicksOf(backend!.pid);
  const started = performance.now();
  for (const { spec, chunks } of exported) {
    const tableStarted = performance.now();
    const sink = target.query(copyFrom(`COPY ${spec.table} (${spec.columns}) FROM STDIN`));
    await pipeline(Readable.from(chunks), sink);
    perTable.push({ table: spec.table, rows: Number(sink.rowCount), ms: performance.now() - tableStarted });
  }
  const ms = performance.now() - started;
  const ticksAfter = cpuTicksOf(backend!.pid);
  const postgresCpuS = ticksBefore === undefined || ticksAfter === undefined ? undefined : (ticksAfter - ticksBefore) / 100;
  return { ms, postgresCpuS, rows: perTable.reduce((sum, t) => sum + t.rows, 0), perTable };
}
