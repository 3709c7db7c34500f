// Who may read what on a health port. Probes (/healthz, /readyz) are open: they say up or down
// and nothing else. What people look at (the status page, its JSON, Bull Board) needs the
// credentials when they are configured, is open on a loopback address without them, and is not
// served at all beyond loopback without them, unless the status page was made public on
// purpose. /metrics needs the credentials when they are configured and is open otherwise, so
// that a scrape keeps working until Prometheus has been given them.
// Credentials are a bearer token and/or a user and password (Basic), compared in constant time:
// only SHA-256 digests are kept and compared, so neither the content nor the length of a guess
// changes how long the comparison takes.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface Credentials {
  /** SHA-256 of the bearer token. */
  token?: Buffer;
  /** SHA-256 of the user name and of the password. */
  basic?: { user: Buffer; password: Buffer };
}

export function credentialsOf(values: { token?: string; user?: string; password?: string }): Credentials | null {
  const credentials: Credentials = {};
  if (values.token !== undefined) credentials.token = digest(values.token);
  if (values.user !== undefined && values.password !== undefined) credentials.basic = { user: digest(values.user), password: digest(values.password) };
  return credentials.token || credentials.basic ? credentials : null;
}

/** Who an endpoint is for. */
export type Audience = 'probes' | 'metrics' | 'people' | 'public';

export interface AccessPolicy {
  credentials: Credentials | null;
  /** The server listens on a loopback address only (127.0.0.0/8, ::1, localhost). */
  loopbackOnly: boolean;
}

export type Verdict = 'allow' | 'unauthorized' | 'not_served';

export function decide(policy: AccessPolicy, audience: Audience, request: IncomingMessage): Verdict {
  if (audience === 'probes' || audience === 'public') return 'allow';
  if (policy.credentials) return presents(policy.credentials, request.headers.authorization) ? 'allow' : 'unauthorized';
  if (audience === 'metrics' || policy.loopbackOnly) return 'allow';
  return 'not_served';
}

/** WWW-Authenticate values for a 401: the schemes configured. */
export function challenges(credentials: Credentials | null): string[] {
  const out: string[] = [];
  if (credentials?.basic) out.push('Basic realm="account-sync", charset="UTF-8"');
  if (credentials?.token) out.push('Bearer realm="account-sync"');
  return out;
}

function presents(credentials: Credentials, authorization: string | undefined): boolean {
  if (authorization === undefined) return false;
  const space = authorization.indexOf(' ');
  if (space < 0) return false;
  const scheme = authorization.slice(0, space).toLowerCase();
  const value = authorization.slice(space + 1).trim();
  if (scheme === 'bearer' && credentials.token) return same(digest(value), credentials.token);
  if (scheme === 'basic' && credentials.basic) {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    // Both compared whatever the first gives: no early exit on a wrong user name.
    const user = same(digest(decoded.slice(0, colon)), credentials.basic.user);
    const password = same(digest(decoded.slice(colon + 1)), credentials.basic.password);
    return user && password;
  }
  return false;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function same(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}

/** Start-up log lines: what is served to whom on this port, and how to change it. */
export function accessNotes(
  policy: AccessPolicy,
  where: string,
  served: ReadonlyArray<{ path: string; audience: Audience }>,
): Array<{ level: 'info' | 'warn'; msg: string }> {
  const notes: Array<{ level: 'info' | 'warn'; msg: string }> = [];
  const HOW = 'set HEALTH_AUTH_TOKEN_FILE (token) or HEALTH_AUTH_USER and HEALTH_AUTH_PASSWORD_FILE (Basic), see docs/operations.md, "Security notes"';
  const people = served.filter((s) => s.audience === 'people').map((s) => s.path);
  const open = served.filter((s) => s.audience === 'public').map((s) => s.path);
  if (open.length > 0 && !policy.loopbackOnly) {
    notes.push({ level: 'warn', msg: `${open.join(' and ')} served without credentials to anyone who can reach ${where} (STATUS_PAGE_PUBLIC=true)` });
  }
  if (policy.credentials) {
    notes.push({ level: 'info', msg: `${[...people, '/metrics'].join(', ')} on ${where} require credentials` });
  } else if (!policy.loopbackOnly) {
    if (people.length > 0) notes.push({ level: 'warn', msg: `${people.join(' and ')} not served on ${where} (not a loopback address) without credentials: ${HOW}` });
    notes.push({ level: 'info', msg: `/metrics on ${where} is served without credentials; to require them, ${HOW}` });
  }
  return notes;
}
