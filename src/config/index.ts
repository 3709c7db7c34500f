// The settings: the only module that reads the environment. Each section declares its own
// variables once (./setting.ts); each entry point loads the sections its command needs, once,
// at start-up, and passes the result down. Every bad variable is named in one ConfigError.
import { ConfigError } from '../errors.js';
import { database } from './database.js';
import type { Env } from './environment.js';
import { health, healthAuth, shutdown } from './health.js';
import { log } from './logging.js';
import { queue } from './queue.js';
import { redis } from './redis.js';
import { runtime } from './runtime.js';
import { schedule } from './schedule.js';
import { parseSection, type SectionValue, type Setting } from './setting.js';
import { statusPage } from './status-page.js';
import { sync } from './sync.js';
import { upvest } from './upvest.js';
import { webhooks } from './webhooks.js';

export { isInteractive, processEnv, type Env } from './environment.js';
export type { DatabaseConfig } from './database.js';
export type { HealthAuthConfig, HealthConfig, SecretSource, ShutdownConfig } from './health.js';
export type { LogConfig } from './logging.js';
export type { QueueConfig } from './queue.js';
export type { RedisConfig } from './redis.js';
export type { RuntimeConfig } from './runtime.js';
export type { ScheduleConfig } from './schedule.js';
export type { StatusPageConfig } from './status-page.js';
export { RUN_DEFAULTS, runOptionsOf, withRunDefaults, type RunOptions, type RunSettings, type SyncConfig } from './sync.js';
export type { WebhooksConfig } from './webhooks.js';

/** Every section, in the order its problems are reported. */
const SECTIONS = { database, upvest, sync, schedule, redis, queue, health, healthAuth, shutdown, statusPage, log, webhooks, runtime } as const;

export type Config = { [K in keyof typeof SECTIONS]: SectionValue<(typeof SECTIONS)[K]> };
export type SectionName = keyof Config;

/** What each command reads; nothing else is looked at, so a worker-only mistake never stops `migrate`. */
export const COMMAND_SECTIONS = {
  migrate: ['database', 'log'],
  sync: ['database', 'upvest', 'sync', 'log'],
  'sync --dry-run': ['upvest', 'sync', 'log'],
  demo: ['database', 'upvest', 'sync', 'webhooks', 'log'],
  worker: ['database', 'upvest', 'sync', 'schedule', 'redis', 'queue', 'health', 'healthAuth', 'shutdown', 'statusPage', 'log'],
  trigger: ['redis', 'queue', 'log'],
  refresh: ['database', 'upvest', 'sync', 'log'],
  status: ['database', 'schedule', 'log'],
  changes: ['database', 'log'],
  'grant-readonly': ['database', 'log'],
  simulator: ['log'],
  receiver: ['database', 'upvest', 'webhooks', 'sync', 'healthAuth', 'log'],
  webhooks: ['upvest', 'webhooks', 'log'],
} as const satisfies Record<string, readonly SectionName[]>;

export type CommandName = keyof typeof COMMAND_SECTIONS;
export type CommandConfig<C extends CommandName> = Pick<Config, (typeof COMMAND_SECTIONS)[C][number]>;

export interface LoadOptions {
  /** Stand in for variables the environment leaves unset or empty (the demo's own database). */
  defaults?: Env;
  /** Win over the environment (the demo's simulator). */
  overrides?: Env;
}

/** The sections `names`; the problems of all of them are reported together. */
export function loadSections<K extends SectionName>(env: Env, names: readonly K[], options: LoadOptions = {}): Pick<Config, K> {
  const effective: Record<string, string | undefined> = { ...options.defaults };
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') effective[key] = value;
  Object.assign(effective, options.overrides);
  const problems: Array<{ key: string; message: string }> = [];
  const out: Partial<Record<SectionName, unknown>> = {};
  for (const name of names) {
    try {
      out[name] = parseSection<never, unknown>(SECTIONS[name] as never, effective);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as Pick<Config, K>;
}

export function loadCommandConfig<C extends CommandName>(command: C, env: Env, options?: LoadOptions): CommandConfig<C> {
  return loadSections(env, COMMAND_SECTIONS[command], options) as unknown as CommandConfig<C>;
}

export interface DeclaredSetting {
  name: string;
  section: SectionName;
  setting: Setting;
}

/** Every variable account-sync reads, in declaration order: what docs/configuration.md and .env.example list. */
export function declaredSettings(): DeclaredSetting[] {
  return Object.entries(SECTIONS).flatMap(([section, { settings }]) =>
    Object.entries(settings).map(([name, setting]) => ({ name, section: section as SectionName, setting: setting as Setting })),
  );
}
