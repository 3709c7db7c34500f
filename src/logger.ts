// pino, writing JSON to standard error so that standard output stays for results.
// Secrets are kept out in three layers: redact paths for the fields we know, an error
// serializer that drops what HTTP clients hang on their errors (got puts the whole request on
// it: headers with the bearer token and signature, and the token request's form body with the
// client secret), and a last scrub of every written line for secret-shaped text and the
// configured secret values themselves.
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export interface LogConfig {
  level: (typeof LOG_LEVELS)[number];
}

/** Paths that may hold secrets, wherever they turn up in a log line. */
export const REDACT_PATHS = [
  'clientSecret',
  'client_secret',
  'password',
  'passphrase',
  'token',
  'accessToken',
  'access_token',
  'authorization',
  'signature',
  'privateKey',
  'privateKeyPem',
  'signingKeyPassphrase',
  'UPVEST_CLIENT_SECRET',
  'UPVEST_SIGNING_KEY_PASSPHRASE',
  '*.clientSecret',
  '*.client_secret',
  '*.password',
  '*.passphrase',
  '*.access_token',
  '*.accessToken',
  '*.authorization',
  '*.signature',
  '*.privateKey',
  '*.privateKeyPem',
  '*.signingKeyPassphrase',
  '*.UPVEST_CLIENT_SECRET',
  '*.UPVEST_SIGNING_KEY_PASSPHRASE',
  'headers.authorization',
  'headers.signature',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.signature',
  '*.headers.cookie',
  '*.*.headers.authorization',
  '*.*.headers.signature',
  '*.*.headers.cookie',
];

/** Properties of HTTP client errors that carry the request or response itself. */
const TRANSPORT_PROPERTIES = ['options', 'request', 'response', 'timings', 'config', 'headers', 'body'];

export interface LoggerOptions {
  /**
   * Secret values to scrub from every line: a registry (which learns access tokens as they are
   * received, see secrets.ts) or a fixed list.
   */
  secrets?: { redact(text: string): string } | ReadonlyArray<string | undefined>;
}

export function createLogger(
  config: LogConfig,
  destination: NodeJS.WritableStream = process.stderr,
  options: LoggerOptions = {},
): Logger {
  const secrets = options.secrets ?? [];
  const scrub = 'redact' in secrets ? secrets.redact : secretScrubber(secrets);
  return pino(
    {
      level: config.level,
      base: { service: 'account-sync' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError, error: serializeError },
      hooks: { streamWrite: scrub },
    },
    destination as pino.DestinationStream,
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** pino's error serializer without the transport internals, for this error and its causes. */
export function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const property of TRANSPORT_PROPERTIES) delete serialized[property];
  if (typeof serialized.message === 'string') serialized.message = redactText(serialized.message);
  if (typeof serialized.stack === 'string') serialized.stack = redactText(serialized.stack);
  return serialized;
}

const PATTERNS: Array<[RegExp, string]> = [
  // Bearer tokens in headers or messages.
  [/\bBearer\s+[A-Za-z0-9\-._~+/]+=*/gi, 'Bearer [redacted]'],
  // PEM private keys, also with their line breaks escaped inside a JSON string.
  [/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----/g, '[redacted private key]'],
  // HTTP message signatures (sig1=:base64:), wherever a signature header value is echoed.
  [/(\bsig[\w-]*=:)[A-Za-z0-9+/]+=*:/g, '$1[redacted]:'],
  // key=value and "key":"value" forms (form bodies, JSON bodies, query strings), quotes escaped or not.
  [
    /((?:client_secret|access_token|refresh_token|password|passphrase)\\?["']?\s*[:=]\s*\\?["']?)[^"'&\s,}\\]+/gi,
    '$1[redacted]',
  ],
];

/** Secret-shaped text replaced: bearer tokens, private keys, signatures, secret form fields. */
export function redactText(text: string, secrets: ReadonlyArray<string | undefined> = []): string {
  let out = text;
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  for (const secret of secrets) {
    // Very short values would blank out ordinary words; a real secret is never that short.
    if (secret && secret.length >= 4) out = out.split(secret).join('[redacted]');
  }
  return out;
}

/** The last line of defence, applied to each serialized log line. */
export function secretScrubber(secrets: ReadonlyArray<string | undefined>): (line: string) => string {
  const known = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 4);
  // JSON.stringify escapes some characters; look for the value as it appears in the line too.
  const forms = [...new Set(known.flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]))];
  return (line) => redactText(line, forms);
}
