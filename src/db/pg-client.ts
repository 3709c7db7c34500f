// Single node-postgres connections for administrative work (creating the database, applying
// migrations), where a pool and Prisma would only get in the way, and the reading of pg errors.
import { Client, DatabaseError } from 'pg';
import { pgConnectionString } from './database-url.js';

/** Long enough for a slow TLS handshake, short enough that an unreachable server fails the command. */
export const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Opens one connection, in the URL's `?schema=` if it has one. Rejects with pg's own error;
 * callers decide what it means to them.
 */
export async function openClient(databaseUrl: string, applicationName: string): Promise<Client> {
  const client = new Client({
    connectionString: pgConnectionString(databaseUrl),
    application_name: applicationName,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A connection that dies while idle emits 'error', which would crash the process if unheard;
  // the next query on it rejects anyway, and that is where the failure is reported.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

export function sqlStateOf(error: unknown): string | undefined {
  return error instanceof DatabaseError ? error.code : undefined;
}

/**
 * Whether the connection itself failed (or the server ended the session), as opposed to the
 * server rejecting a statement: errors without an SQLSTATE come from the socket or the driver.
 */
export function isConnectionFailure(error: unknown): boolean {
  const code = sqlStateOf(error);
  if (code === undefined) return true;
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

/** One line: the server's message with its detail and hint, or the socket error. */
export function describePgError(error: unknown): string {
  if (error instanceof DatabaseError) {
    const parts = [error.message];
    if (error.detail) parts.push(error.detail);
    if (error.hint) parts.push(`hint: ${error.hint}`);
    return oneLine(parts.join('; '));
  }
  // Node reports a refused connection to a name with several addresses as an AggregateError
  // with an empty message; its members say what happened.
  if (error instanceof AggregateError && !error.message) {
    return oneLine(error.errors.map((inner) => describePgError(inner)).join('; '));
  }
  if (error instanceof Error) return oneLine(error.message || String((error as { code?: unknown }).code ?? error.name));
  return oneLine(String(error));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
