// The daemon's own endpoints (/healthz, /readyz, /metrics, the status page) and how long it
// may take to stop.
import { z } from 'zod';
import { section, withDefault } from './setting.js';
import { wholeNumber } from './values.js';

export interface HealthConfig {
  host: string;
  /** 0 picks a free port (the one bound is logged). */
  port: number;
}

export const health = section(
  {
    HEALTH_HOST: withDefault(z.string().trim().min(1), '0.0.0.0', "address of the daemon's health server"),
    HEALTH_PORT: withDefault(wholeNumber(0, 65_535), '9464', 'its port (0: any free port)'),
  },
  (v): HealthConfig => ({ host: v.HEALTH_HOST, port: v.HEALTH_PORT }),
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
