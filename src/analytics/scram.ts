// SCRAM-SHA-256 password verifiers, computed here so that the password itself never travels to
// the server: ALTER ROLE ... PASSWORD '<verifier>' stores the verifier as it is, and nothing a
// statement log or pg_stat_activity records can be used to log in. Same format and defaults as
// PostgreSQL's own (src/common/scram-common.c) and psql's \password.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export const SCRAM_ITERATIONS = 4096;

/**
 * Only printable ASCII: PostgreSQL passes an ASCII password to SCRAM unchanged, whereas anything
 * else first goes through SASLprep (RFC 4013), which this module does not reimplement.
 */
export function checkPassword(password: string): string | null {
  if (password.length === 0) return 'the password is empty';
  if (!/^[\x20-\x7e]+$/.test(password)) return 'the password must be printable ASCII (letters, digits, punctuation, spaces)';
  return null;
}

export function scramSha256Verifier(
  password: string,
  options: { salt?: Buffer; iterations?: number } = {},
): string {
  const problem = checkPassword(password);
  if (problem) throw new RangeError(problem);
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? SCRAM_ITERATIONS;
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
