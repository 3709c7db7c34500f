// The history cookbook (issue 25), run verbatim as a read-only role against a history written by
// the sync engine's own writer: a rename, a change of owners, a field Upvest added; and quoted
// verbatim, with its question, in docs/analysts.md (the cookbook's "History" section).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { escapeIdentifier, type Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_COOKBOOK } from '../../src/analytics/history-cookbook.js';
import { grantReadonly } from '../../src/analytics/readonly-role.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { openClient } from '../../src/db/pg-client.js';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/database.js';
import { account, accountId, openRun, textClient, userId, writeAccounts } from './support.js';

const role = `as_test_history_${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let prisma: PrismaClient;
let analyst: Client;
let renamedAt: string;

const query = async (id: string) => (await analyst.query(HISTORY_COOKBOOK.find((q) => q.id === id)!.sql)).rows;

beforeAll(async () => {
  db = await createTestDatabase('analytics_history_cookbook');
  prisma = createPrisma(db.url);
  const [clock] = await prisma.$queryRaw<Array<{ recent: string }>>`
    SELECT to_char(date_trunc('second', now()) AT TIME ZONE 'UTC' - interval '2 days', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS recent`;
  renamedAt = clock!.recent;
  const run = await openRun(prisma);
  const first = account(1, 'ACTIVE', '2025-01-10T10:00:00Z', { users: [{ id: userId(1), type: 'OWNER' }] });
  await writeAccounts(prisma, run, [first, account(2, 'ACTIVE', '2025-01-10T10:00:00Z', { extra: '{"tax_residency":"DE"}' })], '2025-01-10T11:00:00Z');
  // A joint owner joins before 1 March; the account is renamed after it (within the last 30 days).
  const joint = { ...first, updatedAt: '2025-02-01T09:00:00Z', users: [{ id: userId(1), type: 'OWNER' }, { id: userId(9), type: 'GUARDIAN' }] };
  await writeAccounts(prisma, run, [joint, account(3, 'ACTIVE', '2025-02-01T09:00:00Z', { extra: '{"tax_residency":"FR"}' })], '2025-02-01T10:00:00Z');
  await writeAccounts(prisma, run, [{ ...joint, updatedAt: renamedAt, name: 'Family Savings', extra: '{"risk_class":"R2"}' }], renamedAt);
  await grantReadonly(prisma, { role, schema: 'public', login: true });
  analyst = await textClient(db.url, { user: role });
  await analyst.query(`SET TIME ZONE 'UTC'`);
});

afterAll(async () => {
  await analyst?.end();
  await prisma?.$disconnect();
  await db?.drop();
  const admin = await openClient(ADMIN_DATABASE_URL, 'history cookbook test admin');
  try {
    await admin.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
  } finally {
    await admin.end();
  }
});

describe('the history cookbook, as the read-only role', () => {
  it('gives an account as the mirror knew it at an instant, owners and all', async () => {
    expect(await query('account_as_of')).toEqual([
      {
        id: accountId(1),
        name: 'Account 1',
        type: 'TRADING',
        account_group_id: '10000000-0000-4000-8000-000000000001',
        status: 'ACTIVE',
        deleted: 'f',
        users: `[{"id": "${userId(1)}", "type": "OWNER", "extra": null}, {"id": "${userId(9)}", "type": "GUARDIAN", "extra": null}]`,
        extra: null,
      },
    ]);
  });

  it('lists the renames of the last 30 days', async () => {
    const at = `${renamedAt.replace('T', ' ').replace('Z', '')}+00`;
    expect(await query('renames_last_30_days')).toEqual([
      { account_id: accountId(1), changed_at: at, renamed_from: 'Account 1', renamed_to: 'Family Savings', source: 'sync' },
    ]);
  });

  it('lists when owners came and went', async () => {
    expect(await query('owners_changed')).toEqual([
      { account_id: accountId(1), user_id: userId(9), changed_at: '2025-02-01 09:00:00+00', what: 'became owner', owner_type: 'GUARDIAN' },
    ]);
  });

  it('reads a field Upvest added from extra', async () => {
    expect(await query('unknown_field_values')).toEqual([
      { tax_residency: 'DE', accounts: '1' },
      { tax_residency: 'FR', accounts: '1' },
    ]);
  });
});

describe('docs/analysts.md', () => {
  const docs = readFileSync(new URL('../../docs/analysts.md', import.meta.url), 'utf8');
  const history = docs.slice(docs.indexOf('\n### History\n'));
  it.each(HISTORY_COOKBOOK.map((q) => [q.id, q] as const))('quotes the %s query verbatim, with its question, under History', (_id, query) => {
    expect(history).toContain(`\`\`\`sql\n${query.sql}\n\`\`\``);
    expect(history).toContain(`**${query.question}**`);
  });
});
