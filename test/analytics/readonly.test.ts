// `account-sync grant-readonly`: a role that can read the mirror and nothing else, checked by
// connecting as it (the test server trusts 127.0.0.1, so a LOGIN role needs no password).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { escapeIdentifier, type Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { openClient } from '../../src/db/pg-client.js';
import { scramSha256Verifier } from '../../src/analytics/scram.js';
import { runGrantReadonly } from '../../src/commands/grant-readonly.js';
import { ADMIN_DATABASE_URL, createTestDatabase, type TestDatabase } from '../support/database.js';
import { account, LineCapture, openRun, sqlState, textClient, writeAccounts } from './support.js';

let db: TestDatabase;
let prisma: PrismaClient;
const suffix = randomBytes(4).toString('hex');
const analyst = `as_test_ro_${suffix}`;
const roles = [analyst, `as_test_cdb_${suffix}`, `as_test_member_${suffix}`, `as_test_scram_${suffix}`];

/** node-postgres's own SCRAM-SHA-256 client: what an analyst's connection would run. */
const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[]): { clientNonce: string; response: string };
  continueSession(session: object, password: string, serverFirst: string): Promise<void>;
  finalizeSession(session: object, serverFinal: string): void;
};

/**
 * Whether a client logging in with `password` would be let in by a server holding `verifier`:
 * node-postgres's SCRAM client against the server's side of the exchange, as PostgreSQL checks
 * a client's proof (RFC 5802: the proof, unmasked with the client signature, must hash to the
 * stored key) and as the client checks the server's signature. The test server trusts every
 * connection, so it cannot be asked itself.
 */
async function scramAccepts(verifier: string, password: string): Promise<boolean> {
  const [, iterations, salt, storedKey, serverKey] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier) ?? [];
  if (!serverKey) throw new Error(`not a SCRAM-SHA-256 verifier: ${verifier}`);
  const session = sasl.startSession(['SCRAM-SHA-256']);
  const nonce = session.clientNonce + randomBytes(18).toString('base64');
  const serverFirst = `r=${nonce},s=${salt},i=${iterations}`;
  await sasl.continueSession(session, password, serverFirst);
  const [, channelBinding, proof] = /^c=([^,]+),r=[^,]+,p=(.+)$/.exec(session.response) ?? [];
  const authMessage = `n=*,r=${session.clientNonce},${serverFirst},c=${channelBinding},r=${nonce}`;
  const clientSignature = createHmac('sha256', Buffer.from(storedKey!, 'base64')).update(authMessage).digest();
  const clientKey = Buffer.from(proof!, 'base64').map((byte, i) => byte ^ clientSignature[i]!);
  if (!createHash('sha256').update(clientKey).digest().equals(Buffer.from(storedKey!, 'base64'))) return false;
  const serverSignature = createHmac('sha256', Buffer.from(serverKey, 'base64')).update(authMessage).digest('base64');
  sasl.finalizeSession(session, `v=${serverSignature}`);
  return true;
}

async function admin<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = await openClient(ADMIN_DATABASE_URL, 'readonly test admin');
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  db = await createTestDatabase('analytics_readonly');
  prisma = createPrisma(db.url);
  const run = await openRun(prisma);
  await writeAccounts(prisma, run, [account(1, 'ACTIVE', '2026-01-01T00:00:00Z')], '2026-01-01T00:00:01Z');
});

afterAll(async () => {
  await prisma?.$disconnect();
  // Dropping the database drops the roles' privileges in it; the roles are the server's.
  await db?.drop();
  await admin(async (client) => {
    for (const role of roles) await client.query(`DROP ROLE IF EXISTS ${escapeIdentifier(role)}`);
  });
});

async function grant(args: string[], stdin = '') {
  const stdout = new LineCapture();
  const stderr = new LineCapture();
  const code = await runGrantReadonly(
    args,
    { env: { DATABASE_URL: db.url, LOG_LEVEL: 'silent' }, stdout, stderr },
    { readStdin: async () => stdin },
  );
  return { code, stdout: stdout.lines, stderr: stderr.lines };
}

async function asAnalyst<T>(work: (client: Client) => Promise<T>): Promise<T> {
  const client = await textClient(db.url, { user: analyst });
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function relations(): Promise<string[]> {
  const rows = await prisma.$queryRaw<Array<{ name: string }>>`
    SELECT c.relname::text AS name FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'v') ORDER BY 1`;
  return rows.map((r) => r.name);
}

describe('grant-readonly', () => {
  it('creates a LOGIN role that can read every table and view, and run the daily function', async () => {
    const names = await relations();
    expect(names).toEqual(expect.arrayContaining(['accounts', 'account_status_history', 'account_status_counts', 'sync_runs']));
    expect(await grant([analyst, '--login'])).toEqual({
      code: 0,
      stdout: [
        `created role ${analyst} (LOGIN): it can SELECT from the ${names.length} tables and views of schema public in database ${db.name}, and nothing else.`,
        `connect with: psql "postgresql://${analyst}@127.0.0.1:5432/${db.name}"`,
      ],
      stderr: [],
    });
    await asAnalyst(async (client) => {
      for (const name of names) {
        expect(await sqlState(client.query(`SELECT count(*) FROM ${escapeIdentifier(name)}`))).toBe('resolved');
      }
      const { rows } = await client.query(`SELECT status, accounts FROM account_status_daily('2026-01-01', '2026-01-01')`);
      expect(rows).toEqual([{ status: 'ACTIVE', accounts: '1' }]);
      expect((await client.query('SHOW default_transaction_read_only')).rows).toEqual([{ default_transaction_read_only: 'on' }]);
      expect((await client.query('SHOW search_path')).rows).toEqual([{ search_path: 'public' }]);
    });
  });

  it('cannot change anything, even after turning read-only transactions off', async () => {
    await asAnalyst(async (client) => {
      // First line of defence: its sessions start read-only.
      expect(await sqlState(client.query(`DELETE FROM rejected_records`))).toBe('25006');
      // The real one: no privilege to write.
      await client.query('SET default_transaction_read_only = off');
      const id = '00000000-0000-4000-8000-000000000001';
      const attempts = {
        insert: `INSERT INTO users (id, first_seen_at, last_seen_at) VALUES ('${id}', now(), now())`,
        update: `UPDATE accounts SET name = 'x' WHERE id = '${id}'`,
        delete: `DELETE FROM account_users`,
        truncate: `TRUNCATE sync_run_pages`,
        feed: `INSERT INTO account_status_changes (account_id, to_status, changed_at, observed_at, sync_run_id)
               VALUES ('${id}', 'X', now(), now(), 1)`,
        sequence: `SELECT nextval('account_status_changes_id_seq')`,
        createTable: `CREATE TABLE public.mine (x int)`,
        createView: `CREATE VIEW public.mine AS SELECT 1`,
        createSchema: `CREATE SCHEMA mine`,
        alter: `ALTER TABLE accounts ADD COLUMN x int`,
        drop: `DROP VIEW account_status_counts`,
      };
      const outcomes: Record<string, string> = {};
      for (const [name, statement] of Object.entries(attempts)) outcomes[name] = await sqlState(client.query(statement));
      expect(outcomes).toEqual(Object.fromEntries(Object.keys(attempts).map((name) => [name, '42501'])));
      // Passing its privileges on: PostgreSQL only warns "no privileges were granted".
      await client.query(`GRANT SELECT ON accounts TO PUBLIC`);
      expect((await client.query(`SELECT has_table_privilege('public', 'accounts', 'SELECT') AS p`)).rows).toEqual([{ p: 'f' }]);
      // PUBLIC's own privilege, which changes nothing in the mirror: a temporary table of its own.
      expect(await sqlState(client.query(`CREATE TEMP TABLE scratch AS SELECT status FROM accounts`))).toBe('resolved');
    });
    expect(await prisma.user.count()).toBe(1);
  });

  it('can read tables that later migrations create', async () => {
    await prisma.$executeRawUnsafe(`CREATE TABLE "later_table" ("x" INTEGER)`);
    await prisma.$executeRawUnsafe(`CREATE VIEW "later_view" AS SELECT 1 AS "one"`);
    await asAnalyst(async (client) => {
      expect(await sqlState(client.query(`SELECT * FROM later_table`))).toBe('resolved');
      expect((await client.query(`SELECT one FROM later_view`)).rows).toEqual([{ one: '1' }]);
    });
  });

  it('is idempotent: a second run takes back what was granted since and keeps LOGIN', async () => {
    await prisma.$executeRawUnsafe(`GRANT INSERT, UPDATE ON "accounts" TO ${escapeIdentifier(analyst)}`);
    const names = await relations();
    expect(await grant([analyst])).toEqual({
      code: 0,
      stdout: [
        `updated role ${analyst} (LOGIN): it can SELECT from the ${names.length} tables and views of schema public in database ${db.name}, and nothing else.`,
        `connect with: psql "postgresql://${analyst}@127.0.0.1:5432/${db.name}"`,
      ],
      stderr: [],
    });
    await asAnalyst(async (client) => {
      await client.query('SET default_transaction_read_only = off');
      expect(await sqlState(client.query(`UPDATE accounts SET name = 'x'`))).toBe('42501');
    });
  });

  it('sets a password from standard input as a SCRAM verifier, never as plain text', async () => {
    const result = await grant([analyst, '--password-stdin'], 'correct horse battery staple\n');
    expect(result.code).toBe(0);
    expect(result.stdout[0]).toMatch(new RegExp(`^updated role ${analyst} \\(LOGIN, password set\\)`));
    const stored = await admin(async (client) => {
      const { rows } = await client.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1`, [analyst]);
      return rows[0]!.p;
    });
    expect(stored).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    // A client with the password gets in, one without it does not: checked by node-postgres's
    // SCRAM client, not by recomputing the verifier with the code that made it.
    expect(await scramAccepts(stored, 'correct horse battery staple')).toBe(true);
    expect(await scramAccepts(stored, 'correct horse battery staple\n')).toBe(false);
    expect(await scramAccepts(stored, 'Correct horse battery staple')).toBe(false);
  });

  it('computes verifiers exactly as PostgreSQL does', async () => {
    const role = roles[3]!;
    const stored = await admin(async (client) => {
      await client.query(`SET password_encryption = 'scram-sha-256'`);
      await client.query(`CREATE ROLE ${escapeIdentifier(role)} PASSWORD 'Tr0ub4dor&3 with spaces'`);
      const { rows } = await client.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1`, [role]);
      return rows[0]!.p;
    });
    // The check the previous test relies on accepts what PostgreSQL itself made.
    expect(await scramAccepts(stored, 'Tr0ub4dor&3 with spaces')).toBe(true);
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored) ?? [];
    expect(
      scramSha256Verifier('Tr0ub4dor&3 with spaces', { salt: Buffer.from(salt!, 'base64'), iterations: Number(iterations) }),
    ).toBe(stored);
  });

  it('turns LOGIN off with --nologin', async () => {
    expect((await grant([analyst, '--nologin'])).stdout).toEqual([
      expect.stringMatching(new RegExp(`^updated role ${analyst} \\(NOLOGIN\\)`)),
      `it cannot log in itself: grant it to people's own login roles, e.g. GRANT ${analyst} TO alice;`,
    ]);
    expect(await sqlState(asAnalyst(async () => undefined))).toBe('28000');
    expect((await grant([analyst, '--login'])).code).toBe(0);
  });

  it('refuses roles that could write whatever it revokes', async () => {
    const [creator, member] = [roles[1]!, roles[2]!];
    await admin(async (client) => {
      await client.query(`CREATE ROLE ${escapeIdentifier(creator)} CREATEDB`);
      await client.query(`CREATE ROLE ${escapeIdentifier(member)} IN ROLE pg_write_all_data`);
    });
    expect(await grant([creator])).toEqual({
      code: 1,
      stdout: [],
      stderr: [`account-sync grant-readonly: role ${creator} cannot be made read-only: it has CREATEDB`],
    });
    expect(await grant([member])).toEqual({
      code: 1,
      stdout: [],
      stderr: [
        `account-sync grant-readonly: role ${member} cannot be made read-only: it is a member of pg_write_all_data and may use their privileges (REVOKE those first)`,
      ],
    });
    // Privileges in another schema: not ours to take back, and not read-only-the-mirror either.
    await prisma.$executeRawUnsafe(`CREATE SCHEMA "other"`);
    await prisma.$executeRawUnsafe(`CREATE TABLE "other"."notes" ("x" INTEGER)`);
    await prisma.$executeRawUnsafe(`GRANT INSERT ON "other"."notes" TO ${escapeIdentifier(analyst)}`);
    expect(await grant([analyst])).toEqual({
      code: 1,
      stdout: [],
      stderr: [
        `account-sync grant-readonly: role ${analyst} cannot be made read-only: it has privileges outside schema public, on other.notes (REVOKE those first)`,
      ],
    });
    await prisma.$executeRawUnsafe(`REVOKE ALL ON "other"."notes" FROM ${escapeIdentifier(analyst)}`);
    expect((await grant([analyst])).code).toBe(0);
    const self = await grant(['postgres']);
    expect(self.code).toBe(1);
    expect(self.stderr[0]).toMatch(/it is the role account-sync itself connects as; it has SUPERUSER/);
  });

  it('rejects bad names and options with exit code 2', async () => {
    for (const args of [
      ['Analyst'],
      ['1analyst'],
      ['pg_reader'],
      ['public'],
      ['analyst-team'],
      ['a'.repeat(64)],
      [],
      ['one', 'two'],
      [analyst, '--login', '--nologin'],
      [analyst, '--nologin', '--password-stdin'],
    ]) {
      const result = await grant(args);
      expect([args, result.code, result.stderr.at(-1)]).toEqual([
        args,
        2,
        'usage: account-sync grant-readonly <role> [--login | --nologin] [--password-stdin] [--json]',
      ]);
    }
    expect((await grant([analyst, '--password-stdin'], 'pässword\n')).code).toBe(2);
    expect((await grant([analyst, '--password-stdin'], '\n')).code).toBe(2);
  });
});
