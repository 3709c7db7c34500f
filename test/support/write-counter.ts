// Counts the rows written to the mirror's tables, soundly. A statement-level trigger with
// transition tables adds each statement's rows to a counter table in the same transaction, so
// exactly the committed writes count (a no-op UPDATE that still writes a row version counts
// too), whichever session made them. Transaction ids are no measure: `xmin` is 32 bits and
// txid_current() 64, so comparing the two stops meaning anything after the first wraparound.
import type { PrismaClient } from '../../src/db/prisma.js';

export const MIRROR_TABLES = ['accounts', 'users', 'account_users', 'account_status_changes', 'rejected_records'] as const;
export type MirrorTable = (typeof MIRROR_TABLES)[number];

const INSTALL = [
  `CREATE TABLE IF NOT EXISTS test_row_writes (
     id bigserial PRIMARY KEY, table_name text NOT NULL, operation text NOT NULL, rows bigint NOT NULL)`,
  `CREATE OR REPLACE FUNCTION test_count_row_writes() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE n bigint;
   BEGIN
     IF TG_OP = 'DELETE' THEN SELECT count(*) INTO n FROM old_rows; ELSE SELECT count(*) INTO n FROM new_rows; END IF;
     IF n > 0 THEN INSERT INTO test_row_writes (table_name, operation, rows) VALUES (TG_TABLE_NAME, TG_OP, n); END IF;
     RETURN NULL;
   END $$`,
  ...MIRROR_TABLES.flatMap((table) =>
    (['INSERT', 'UPDATE', 'DELETE'] as const).flatMap((op) => [
      `DROP TRIGGER IF EXISTS test_count_${op.toLowerCase()} ON ${table}`,
      `CREATE TRIGGER test_count_${op.toLowerCase()} AFTER ${op} ON ${table}
         REFERENCING ${op === 'DELETE' ? 'OLD TABLE AS old_rows' : 'NEW TABLE AS new_rows'}
         FOR EACH STATEMENT EXECUTE FUNCTION test_count_row_writes()`,
    ]),
  ),
];

export interface WriteCounter {
  /** A point to count from: take it when no write is in flight (ids are drawn before commit). */
  mark(): Promise<bigint>;
  /** Rows inserted, updated or deleted per mirror table since `mark`, by committed transactions. */
  writtenSince(mark: bigint): Promise<Record<MirrorTable, number>>;
}

/** Installs the counting triggers in the test's database (idempotent). */
export async function installWriteCounter(prisma: PrismaClient): Promise<WriteCounter> {
  for (const statement of INSTALL) await prisma.$executeRawUnsafe(statement);
  return {
    async mark() {
      const [row] = await prisma.$queryRaw<Array<{ id: bigint }>>`SELECT coalesce(max(id), 0)::bigint AS id FROM test_row_writes`;
      return row!.id;
    },
    async writtenSince(mark) {
      const rows = await prisma.$queryRaw<Array<{ table_name: MirrorTable; rows: number }>>`
        SELECT table_name, sum(rows)::int AS rows FROM test_row_writes WHERE id > ${mark} GROUP BY table_name`;
      const counts = Object.fromEntries(MIRROR_TABLES.map((table) => [table, 0])) as Record<MirrorTable, number>;
      for (const row of rows) counts[row.table_name] = row.rows;
      return counts;
    },
  };
}
