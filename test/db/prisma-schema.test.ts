// The migrations are the truth about the database; prisma/schema.prisma describes the same tables
// to the Prisma client and must not drift from them. A fresh database, migrated as `account-sync
// migrate` does, is compared table by table with what the schema models: column names, types,
// nullability and defaults, the primary key, unique indexes, foreign keys (with their actions)
// and the indexes the schema declares, each under the name Prisma gives it.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient } from '../../src/db/pg-client.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { databaseShapes, generatedDataModel, parseSchema, schemaShapes, type SchemaModel, type TableShape } from './prisma-model.js';

const models: SchemaModel[] = parseSchema(readFileSync('prisma/schema.prisma', 'utf8'));

describe('the reading of prisma/schema.prisma', () => {
  it('agrees with the generated client on every model and field (names, kinds, types, columns)', () => {
    const generated = generatedDataModel();
    const asRead = Object.fromEntries(
      models.map((m) => [
        m.name,
        { dbName: m.table, fields: m.fields.map((f) => ({ name: f.name, kind: f.kind, type: f.type, ...(f.column === f.name ? {} : { dbName: f.column }) })) },
      ]),
    );
    const asGenerated = Object.fromEntries(
      Object.entries(generated).map(([name, m]) => [
        name,
        { dbName: m.dbName, fields: m.fields.map((f) => ({ name: f.name, kind: f.kind, type: f.type, ...(f.dbName === undefined ? {} : { dbName: f.dbName }) })) },
      ]),
    );
    expect(asRead).toEqual(asGenerated);
  });
});

describe('prisma/schema.prisma against the migrated database', () => {
  let database: TestDatabase;
  let fromSchema: Map<string, TableShape>;
  let fromDatabase: Map<string, TableShape>;
  beforeAll(async () => {
    database = await createTestDatabase('prisma_schema');
    const client = await openClient(database.url, 'account-sync tests');
    try {
      fromDatabase = await databaseShapes(client);
    } finally {
      await client.end();
    }
    fromSchema = schemaShapes(models);
  });
  afterAll(() => database?.drop());

  it('models every table the migrations create, and no other', () => {
    expect([...fromSchema.keys()].sort()).toEqual([...fromDatabase.keys()].sort());
    expect(fromDatabase.size).toBeGreaterThanOrEqual(10);
  });

  it.each(models.map((m) => [m.table]))('describes %s as the migrations create it', (table) => {
    expect(fromSchema.get(table)).toEqual(fromDatabase.get(table));
  });
});
