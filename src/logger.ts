// pino, writing JSON to standard error so that standard output stays for results.
import { pino, type Logger } from 'pino';
import type { LogConfig } from './config.js';

export type { Logger };

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
  '*.clientSecret',
  '*.client_secret',
  '*.passphrase',
  '*.access_token',
  '*.accessToken',
  '*.authorization',
  '*.signature',
  'headers.authorization',
  'headers.signature',
  '*.headers.authorization',
  '*.headers.signature',
];

export function createLogger(config: LogConfig, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino(
    {
      level: config.level,
      base: { service: 'account-sync' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    destination as pino.DestinationStream,
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
