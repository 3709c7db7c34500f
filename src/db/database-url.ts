// What a PostgreSQL URL points at, for messages and for reaching a sibling database on the same
// server. Read the way node-postgres reads it (query `host`/`port` win, the path is decodeURI'd),
// so that what we name is what pg connects to.
import { escapeIdentifier } from 'pg';
import { AccountSyncError } from '../errors.js';

export interface DatabaseTarget {
  host: string;
  port: number;
  /** The database pg will connect to; pg falls back to the user name when the path is empty. */
  database: string;
  user: string;
}

export function describeDatabaseUrl(databaseUrl: string): DatabaseTarget {
  const url = parseUrl(databaseUrl);
  const user = url.searchParams.get('user') ?? (decodeURIComponent(url.username) || 'postgres');
  const hostname = url.hostname.replace(/^\[(.+)\]$/, '$1');
  const host = url.searchParams.get('host') ?? (decodeURIComponent(hostname) || 'localhost');
  const port = Number(url.searchParams.get('port') ?? url.port) || 5432;
  const path = url.pathname.slice(1);
  return { host, port, database: path ? decodeURI(path) : user, user };
}

/**
 * The schema Prisma's engine migrates for this URL: its `?schema=` parameter, else public.
 * node-postgres ignores the parameter, so it is up to us to honour it.
 */
export function prismaSchemaOf(databaseUrl: string): { schema: string; explicit: boolean } {
  const schema = parseUrl(databaseUrl).searchParams.get('schema');
  return schema ? { schema, explicit: true } : { schema: 'public', explicit: false };
}

/**
 * The URL to hand node-postgres. It ignores `?schema=`, so the schema becomes the session's
 * search_path through the startup `options` parameter (after any options the URL already
 * has): every connection, pooled or single, then finds the mirror's tables unqualified, as the
 * migrations created them.
 */
export function pgConnectionString(databaseUrl: string): string {
  const url = parseUrl(databaseUrl);
  const { schema, explicit } = prismaSchemaOf(databaseUrl);
  if (!explicit) return databaseUrl;
  url.searchParams.delete('schema');
  // The server splits options at whitespace unless it is escaped with a backslash.
  const searchPath = `-c search_path=${escapeIdentifier(schema).replace(/[\\\s]/g, '\\$&')}`;
  const options = url.searchParams.get('options');
  url.searchParams.set('options', options ? `${options} ${searchPath}` : searchPath);
  return url.toString();
}

/** `host:port`, or the socket directory for a Unix-socket URL. */
export function serverLabel(target: DatabaseTarget): string {
  return target.host.startsWith('/') ? `${target.host} (port ${target.port})` : `${target.host}:${target.port}`;
}

/** The same server, credentials and options, another database. */
export function withDatabaseName(databaseUrl: string, database: string): string {
  const url = parseUrl(databaseUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Node's own error would carry the whole URL, password included, in its `input`. */
function parseUrl(databaseUrl: string): URL {
  try {
    return new URL(databaseUrl);
  } catch {
    throw new AccountSyncError('CONFIG_INVALID', 'The database URL is not a valid postgresql:// URL');
  }
}

/**
 * `text` with the URL's password masked. Our own messages never include it; this guards against
 * a driver or server message that might echo it back.
 */
export function redactPassword(text: string, databaseUrl: string): string {
  let password: string;
  try {
    password = new URL(databaseUrl).password;
  } catch {
    return text;
  }
  if (!password) return text;
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // A malformed escape: pg would fail on it too; mask the raw form only.
  }
  return [password, decoded].reduce((out, secret) => out.split(secret).join('***'), text);
}
