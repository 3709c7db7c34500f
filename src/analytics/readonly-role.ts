// A role that can read the mirror and nothing else, for analysts and reporting tools.
// Idempotent: running it again brings an existing role back to exactly these privileges in the
// mirror's schema (anything granted to it there since is revoked) and leaves the rest alone.
// It refuses roles that could write anyway, whatever we grant or revoke: superusers and the
// like, roles that own objects here, and members of other roles.
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { PrismaClient } from '../db/prisma.js';
import { AccountSyncError } from '../errors.js';

export interface GrantReadonlyOptions {
  role: string;
  /** The schema the mirror was migrated into (the database URL's ?schema=, else public). */
  schema: string;
  /** true: LOGIN, false: NOLOGIN, undefined: NOLOGIN for a new role, unchanged for an existing one. */
  login?: boolean;
  /** A SCRAM verifier (see scram.ts) to set as the password; implies LOGIN. */
  passwordVerifier?: string;
}

export interface GrantReadonlyResult {
  role: string;
  created: boolean;
  login: boolean;
  passwordSet: boolean;
  database: string;
  schema: string;
  /** Tables and views the role can now read. */
  relations: number;
  /** Things the role can still do through PUBLIC's privileges, which are not ours to change. */
  warnings: string[];
}

const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const RESERVED = new Set(['public', 'none', 'current_user', 'current_role', 'session_user', 'user', 'all']);

/** Why a role name is unusable, or null. Lower-case unquoted identifiers only: what analysts type. */
export function checkRoleName(role: string): string | null {
  if (!ROLE_NAME.test(role)) {
    return `role name "${role}" must be 1 to 63 lower-case letters, digits or underscores, not starting with a digit`;
  }
  if (role.startsWith('pg_')) return `role names starting with "pg_" are reserved by PostgreSQL`;
  if (RESERVED.has(role)) return `"${role}" is a reserved word, not a usable role name`;
  return null;
}

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export async function grantReadonly(prisma: PrismaClient, options: GrantReadonlyOptions): Promise<GrantReadonlyResult> {
  const problem = checkRoleName(options.role);
  if (problem) throw new AccountSyncError('READONLY_ROLE_REFUSED', problem);
  return prisma.$transaction(async (tx) => {
    const target = await mirrorLocation(tx, options.schema);
    const role = escapeIdentifier(options.role);
    const existing = await existingRole(tx, options.role);
    if (existing) await refuseIfUnsafe(tx, options.role, existing.oid, target.schema);

    const login = options.passwordVerifier !== undefined ? true : (options.login ?? existing?.canLogin ?? false);
    const password = options.passwordVerifier === undefined ? '' : ` PASSWORD ${escapeLiteral(options.passwordVerifier)}`;
    await tx.$executeRawUnsafe(`${existing ? 'ALTER' : 'CREATE'} ROLE ${role} ${login ? 'LOGIN' : 'NOLOGIN'}${password}`);

    const database = escapeIdentifier(target.database);
    const schema = escapeIdentifier(target.schema);
    const statements = [
      // Defence in depth for sessions in this database; the privileges below are the real limit.
      `ALTER ROLE ${role} IN DATABASE ${database} SET default_transaction_read_only = on`,
      // The cookbook's queries name the views unqualified, whatever schema the mirror is in.
      `ALTER ROLE ${role} IN DATABASE ${database} SET search_path = ${schema}`,
      `REVOKE ALL ON DATABASE ${database} FROM ${role}`,
      `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
      `REVOKE ALL ON SCHEMA ${schema} FROM ${role}`,
      `GRANT USAGE ON SCHEMA ${schema} TO ${role}`,
      `REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`,
      `REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${role}`,
      `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA ${schema} FROM ${role}`,
      // Tables and views alike.
      `GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${role}`,
      `GRANT EXECUTE ON FUNCTION ${schema}."account_status_daily"(date, date, text) TO ${role}`,
      `GRANT EXECUTE ON FUNCTION ${schema}."accounts_as_of"(timestamptz) TO ${role}`,
      // Tables and views that later migrations create (as the mirror's owner) are readable too.
      `ALTER DEFAULT PRIVILEGES FOR ROLE ${escapeIdentifier(target.owner)} IN SCHEMA ${schema} GRANT SELECT ON TABLES TO ${role}`,
    ];
    for (const statement of statements) await tx.$executeRawUnsafe(statement);

    // GRANT by a role without the privilege to grant only warns; check that it took.
    const [facts] = await tx.$queryRaw<Array<{ relations: number; unreadable: string[]; can_create: boolean }>>`
      SELECT count(*) FILTER (WHERE has_table_privilege(${options.role}, c.oid, 'SELECT'))::int AS relations,
             coalesce(array_agg(c.relname::text ORDER BY c.relname)
                        FILTER (WHERE NOT has_table_privilege(${options.role}, c.oid, 'SELECT')), '{}') AS unreadable,
             has_schema_privilege(${options.role}, ${target.schema}, 'CREATE') AS can_create
      FROM pg_class c
      WHERE c.relnamespace = ${target.schema}::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`;
    if (facts && facts.unreadable.length > 0) {
      throw new AccountSyncError(
        'READONLY_ROLE_REFUSED',
        `could not grant SELECT on ${facts.unreadable.join(', ')}: run this as the owner of the mirror's tables (${target.owner})`,
      );
    }
    const warnings: string[] = [];
    if (facts?.can_create) {
      warnings.push(
        `PUBLIC may CREATE in schema ${target.schema} (PostgreSQL's default before version 15), so every role, this ` +
          `one included, can create tables there. A database administrator can close that for all roles with: ` +
          `REVOKE CREATE ON SCHEMA ${schema} FROM PUBLIC;`,
      );
    }
    return {
      role: options.role,
      created: !existing,
      login,
      passwordSet: options.passwordVerifier !== undefined,
      database: target.database,
      schema: target.schema,
      relations: facts?.relations ?? 0,
      warnings,
    };
  });
}

/** The database, and the role that owns the mirror's tables (and so creates future ones). */
async function mirrorLocation(tx: Tx, schema: string): Promise<{ database: string; schema: string; owner: string }> {
  const [row] = await tx.$queryRaw<Array<{ database: string; owner: string | null }>>`
    SELECT current_database() AS database,
           (SELECT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = ${schema} AND c.relname = 'accounts' AND c.relkind IN ('r', 'p')) AS owner`;
  if (!row?.owner) {
    throw new AccountSyncError(
      'READONLY_ROLE_REFUSED',
      `database ${row?.database ?? '?'} has no table ${schema}.accounts: run account-sync migrate first`,
    );
  }
  return { database: row.database, schema, owner: row.owner };
}

async function existingRole(tx: Tx, role: string): Promise<{ oid: string; canLogin: boolean } | null> {
  const [row] = await tx.$queryRaw<Array<{ oid: string; can_login: boolean }>>`
    SELECT oid::text AS oid, rolcanlogin AS can_login FROM pg_roles WHERE rolname = ${role}`;
  return row ? { oid: row.oid, canLogin: row.can_login } : null;
}

async function refuseIfUnsafe(tx: Tx, role: string, oid: string, schema: string): Promise<void> {
  const [facts] = await tx.$queryRaw<
    Array<{ me: boolean; attributes: string[]; member_of: string[]; owns: number; elsewhere: string[] }>
  >`
    SELECT r.rolname IN (current_user, session_user) AS me,
           array_remove(ARRAY[
             CASE WHEN r.rolsuper THEN 'SUPERUSER' END,
             CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
             CASE WHEN r.rolcreatedb THEN 'CREATEDB' END,
             CASE WHEN r.rolreplication THEN 'REPLICATION' END,
             CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END
           ], NULL) AS attributes,
           ARRAY(SELECT g.rolname::text FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                  WHERE m.member = r.oid ORDER BY 1) AS member_of,
           ((SELECT count(*) FROM pg_class WHERE relowner = r.oid)
            + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)
            + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
            + (SELECT count(*) FROM pg_database WHERE datdba = r.oid AND datname = current_database()))::int AS owns,
           -- Privileges granted to it by name on schemas, tables and views other than the mirror's.
           ARRAY(SELECT DISTINCT x.name FROM (
                   SELECT n.nspname::text AS name FROM pg_namespace n, aclexplode(n.nspacl) a
                    WHERE a.grantee = r.oid AND n.nspname <> ${schema}
                   UNION ALL
                   SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                          aclexplode(c.relacl) a
                    WHERE a.grantee = r.oid AND n.nspname <> ${schema}
                 ) x ORDER BY 1) AS elsewhere
    FROM pg_roles r WHERE r.oid = ${oid}::oid`;
  const reasons: string[] = [];
  if (facts?.me) reasons.push('it is the role account-sync itself connects as');
  if (facts && facts.attributes.length > 0) reasons.push(`it has ${facts.attributes.join(', ')}`);
  if (facts && facts.member_of.length > 0) {
    reasons.push(`it is a member of ${facts.member_of.join(', ')} and may use their privileges (REVOKE those first)`);
  }
  if (facts && facts.owns > 0) reasons.push('it owns objects in this database, which it can always change');
  if (facts && facts.elsewhere.length > 0) {
    reasons.push(`it has privileges outside schema ${schema}, on ${facts.elsewhere.join(', ')} (REVOKE those first)`);
  }
  if (reasons.length > 0) {
    throw new AccountSyncError('READONLY_ROLE_REFUSED', `role ${role} cannot be made read-only: ${reasons.join('; ')}`);
  }
}
