import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { databaseErrorCodeOf, sqlStateOf, withTransactionRetry } from '../../src/db/transactions.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('transactions');
  prisma = createPrisma(db.url);
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

describe('transaction retries', () => {
  it("finds PostgreSQL's SQLSTATE under Prisma's own error code", async () => {
    const error = await prisma.$queryRaw`SELECT 1/0`.catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('P2010');
    expect(sqlStateOf(error)).toBe('22012');
  });

  it('runs a transaction again after PostgreSQL broke a deadlock, and only then', async () => {
    let attempts = 0;
    const result = await withTransactionRetry(async () => {
      attempts += 1;
      if (attempts === 1) {
        // A real serialization failure, raised by the server.
        await prisma.$executeRawUnsafe(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`);
      }
      return 'done';
    });
    expect(result).toBe('done');
    expect(attempts).toBe(2);

    let failures = 0;
    await expect(
      withTransactionRetry(async () => {
        failures += 1;
        await prisma.$queryRaw`SELECT 1/0`;
      }),
    ).rejects.toThrow(/22012|division by zero/);
    expect(failures).toBe(1);
  });
});

describe('what a database failure is', () => {
  it('is DB_UNAVAILABLE when the connection is terminated mid-transaction, DB_ERROR for an error the database reports', async () => {
    const terminated = await prisma
      .$transaction(async (tx) => {
        const [me] = await tx.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
        await prisma.$queryRaw`SELECT pg_terminate_backend(${me!.pid}::int)`;
        await tx.$queryRaw`SELECT 1`;
      })
      .catch((e: unknown) => e);
    expect(databaseErrorCodeOf(terminated)).toBe('DB_UNAVAILABLE');

    const refused = createPrisma(db.url.replace(/:\d+\//, ':1/'));
    const unreachable = await refused.$queryRaw`SELECT 1`.catch((e: unknown) => e);
    await refused.$disconnect();
    expect(databaseErrorCodeOf(unreachable)).toBe('DB_UNAVAILABLE');

    expect(databaseErrorCodeOf(await prisma.$queryRaw`SELECT 1/0`.catch((e: unknown) => e))).toBe('DB_ERROR');
    expect(databaseErrorCodeOf(new Error('page 3 failed validation'))).toBeUndefined();
  });
});
