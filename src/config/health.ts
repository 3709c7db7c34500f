// The daemon's own endpoints (/healthz, /readyz, /metrics, the status page), who may read them,
// and how long the daemon may take to stop.
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { optional, section, withDefault } from './setting.js';
import { isLoopback } from './upvest.js';
import { nonBlank, wholeNumber } from './values.js';

export interface HealthConfig {
  host: string;
  /** 0 picks a free port (the one bound is logged). */
  port: number;
  /** `host` is a loopback address: what people look at may be served there without credentials. */
  loopbackOnly: boolean;
}

export const health = section(
  {
    HEALTH_HOST: withDefault(z.string().trim().min(1), '0.0.0.0', "address of the daemon's health server"),
    HEALTH_PORT: withDefault(wholeNumber(0, 65_535), '9464', 'its port (0: any free port)'),
  },
  (v): HealthConfig => ({ host: v.HEALTH_HOST, port: v.HEALTH_PORT, loopbackOnly: isLoopback(v.HEALTH_HOST) }),
);

/** A secret given in the environment or, better, in a file (read at start-up, see src/health/credentials.ts). */
export type SecretSource = { value: string } | { file: string; setting: string };

/**
 * The credentials of the health ports (the worker's and a receiver's): a bearer token and/or a
 * user and password. Unset: none (see src/health/access.ts for what is then served where).
 */
export interface HealthAuthConfig {
  token?: SecretSource;
  user?: string;
  password?: SecretSource;
}

export const MIN_TOKEN_LENGTH = 16;
export const MIN_PASSWORD_LENGTH = 8;

export const healthAuth = section(
  {
    HEALTH_AUTH_TOKEN: optional(z.string(), 'bearer token the status page, Bull Board and /metrics then require (prefer HEALTH_AUTH_TOKEN_FILE)'),
    HEALTH_AUTH_TOKEN_FILE: optional(nonBlank, 'file holding that bearer token'),
    HEALTH_AUTH_USER: optional(nonBlank, 'user name of Basic authentication on the health ports (with a password)'),
    HEALTH_AUTH_PASSWORD: optional(z.string(), 'its password (prefer HEALTH_AUTH_PASSWORD_FILE)'),
    HEALTH_AUTH_PASSWORD_FILE: optional(nonBlank, 'file holding that password'),
  },
  (v): HealthAuthConfig => {
    const problems: Array<{ key: string; message: string }> = [];
    const either = (valueKey: string, value: string | undefined, fileKey: string, file: string | undefined, min: number): SecretSource | undefined => {
      if (value !== undefined && file !== undefined) problems.push({ key: valueKey, message: `must not be set together with ${fileKey}` });
      else if (value !== undefined && value.length < min) problems.push({ key: valueKey, message: `must be at least ${min} characters long` });
      if (value !== undefined) return { value };
      return file === undefined ? undefined : { file, setting: fileKey };
    };
    const token = either('HEALTH_AUTH_TOKEN', v.HEALTH_AUTH_TOKEN, 'HEALTH_AUTH_TOKEN_FILE', v.HEALTH_AUTH_TOKEN_FILE, MIN_TOKEN_LENGTH);
    const password = either('HEALTH_AUTH_PASSWORD', v.HEALTH_AUTH_PASSWORD, 'HEALTH_AUTH_PASSWORD_FILE', v.HEALTH_AUTH_PASSWORD_FILE, MIN_PASSWORD_LENGTH);
    if (v.HEALTH_AUTH_USER !== undefined && password === undefined) {
      problems.push({ key: 'HEALTH_AUTH_USER', message: 'needs HEALTH_AUTH_PASSWORD_FILE or HEALTH_AUTH_PASSWORD' });
    }
    if (v.HEALTH_AUTH_USER === undefined && password !== undefined) {
      problems.push({ key: v.HEALTH_AUTH_PASSWORD !== undefined ? 'HEALTH_AUTH_PASSWORD' : 'HEALTH_AUTH_PASSWORD_FILE', message: 'needs HEALTH_AUTH_USER' });
    }
    if (v.HEALTH_AUTH_USER?.includes(':')) problems.push({ key: 'HEALTH_AUTH_USER', message: 'must not contain ":"' });
    if (problems.length > 0) throw new ConfigError(problems);
    return { token, user: v.HEALTH_AUTH_USER, password };
  },
);

export interface ShutdownConfig {
  /** After a stop signal, exit anyway after this long. */
  timeoutMs: number;
}

export const shutdown = section(
  {
    SHUTDOWN_TIMEOUT_MS: withDefault(wholeNumber(100, 3_600_000), '30000', 'after SIGTERM/SIGINT the daemon exits anyway after this long'),
  },
  (v): ShutdownConfig => ({ timeoutMs: v.SHUTDOWN_TIMEOUT_MS }),
);
