// Prisma's migration history table, `_prisma_migrations`, read and written exactly as Prisma's
// schema engine does, so that `prisma migrate deploy` / `migrate status` agree with us.
import { escapeIdentifier, type ClientBase } from 'pg';

export interface MigrationRecord {
  id: string;
  checksum: string;
  finishedAt: Date | null;
  migrationName: string;
  logs: string | null;
  rolledBackAt: Date | null;
  startedAt: Date;
  appliedStepsCount: number;
}

/** Applied, as Prisma counts it: finished and not rolled back since. */
export function isApplied(record: MigrationRecord): boolean {
  return record.finishedAt !== null && record.rolledBackAt === null;
}

/** Started and neither finished nor rolled back: Prisma's P3009 state, which blocks everything. */
export function isFailed(record: MigrationRecord): boolean {
  return record.finishedAt === null && record.rolledBackAt === null;
}

/**
 * Access to the table in one schema. The name is schema-qualified because a migration script
 * may change search_path for the rest of the session, and its bookkeeping must still land here.
 */
export class MigrationHistory {
  private readonly table: string;

  constructor(
    private readonly client: ClientBase,
    schema: string,
  ) {
    this.table = `${escapeIdentifier(schema)}."_prisma_migrations"`;
  }

  /** Prisma's DDL, column for column, so that its engine recognises the table as its own. */
  async ensureTable(): Promise<void> {
    await this.client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`);
  }

  async list(): Promise<MigrationRecord[]> {
    const { rows } = await this.client.query<{
      id: string;
      checksum: string;
      finished_at: Date | null;
      migration_name: string;
      logs: string | null;
      rolled_back_at: Date | null;
      started_at: Date;
      applied_steps_count: number;
    }>(
      `SELECT "id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count"
         FROM ${this.table} ORDER BY "started_at", "migration_name"`,
    );
    return rows.map((row) => ({
      id: row.id,
      checksum: row.checksum,
      finishedAt: row.finished_at,
      migrationName: row.migration_name,
      logs: row.logs,
      rolledBackAt: row.rolled_back_at,
      startedAt: row.started_at,
      appliedStepsCount: row.applied_steps_count,
    }));
  }

  /** The row Prisma writes before running a script. Returns its started_at. */
  async recordStarted(id: string, name: string, checksum: string): Promise<Date> {
    const { rows } = await this.client.query<{ started_at: Date }>(
      `INSERT INTO ${this.table} ("id", "checksum", "migration_name", "started_at", "applied_steps_count")
       VALUES ($1, $2, $3, now(), 0) RETURNING "started_at"`,
      [id, checksum, name],
    );
    return rows[0]!.started_at;
  }

  /** Prisma's record_successful_step + record_migration_finished, in one statement. */
  async recordFinished(id: string): Promise<void> {
    // clock_timestamp(), not now(): inside the script's transaction now() is its start time.
    await this.client.query(
      `UPDATE ${this.table} SET "finished_at" = clock_timestamp(), "applied_steps_count" = "applied_steps_count" + 1 WHERE "id" = $1`,
      [id],
    );
  }

  /**
   * A failed attempt as Prisma leaves it: never finished, the error in `logs`. Normally the
   * started row went with the rolled-back transaction and is written anew; it survives only when
   * the script committed on its own (a COMMIT of its own), and then it is updated.
   * Resolves to whether it survived.
   */
  async recordFailed(id: string, name: string, checksum: string, startedAt: Date, logs: string): Promise<boolean> {
    const { rows } = await this.client.query<{ survived: boolean }>(
      `WITH survived AS (SELECT 1 FROM ${this.table} WHERE "id" = $1)
       INSERT INTO ${this.table} ("id", "checksum", "migration_name", "started_at", "applied_steps_count", "logs")
       VALUES ($1, $2, $3, $4, 0, $5)
       ON CONFLICT ("id") DO UPDATE SET "logs" = EXCLUDED."logs", "finished_at" = NULL
       RETURNING EXISTS (SELECT 1 FROM survived) AS "survived"`,
      [id, checksum, name, startedAt, logs],
    );
    return rows[0]?.survived === true;
  }
}
