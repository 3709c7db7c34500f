// The only module that reads the environment. Each entry point parses the sections it needs
// once, at start-up, and passes the result down; every bad key is reported in one message.
import { isIP } from 'node:net';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { ConfigError } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface DatabaseConfig {
  url: string;
}

export interface UpvestConfig {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string;
  signingKeyFile: string;
  signingKeyPassphrase: string | undefined;
  signingKeyId: string;
  apiVersion: string;
  /** Lifetime of each request signature (created .. expires), seconds. */
  signatureTtlSeconds: number;
  /** Refresh the access token this many seconds before it expires. */
  tokenRefreshMarginSeconds: number;
  /** Never start more requests per second than this (the budget adapts below it on 429s). */
  maxRequestsPerSecond: number | undefined;
  connectTimeoutMs: number;
  /** Whole-request budget for one attempt, from connecting to the last body byte. */
  requestTimeoutMs: number;
  /** Largest response body read, counted after decompression. */
  maxResponseBytes: number;
  /** Plain http to a host that is not loopback, explicitly allowed (and warned about at start). */
  plainHttpToRemoteHost: boolean;
  retry: RetryConfig;
}

export interface RetryConfig {
  /** Attempts after the first one. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Upper bound of one request's attempts and waits, all together. */
  maxRetryTimeMs: number;
}

export interface SyncConfig {
  pageSize: number;
  concurrency: number;
  /** No run fetches more pages than this, whatever total_count says. */
  maxPages: number;
  /** Incremental runs reach back this far before the last watermark. */
  incrementalLagMs: number;
  /** Recognise pages served exactly as a full run last wrote them, and skip writing them. */
  skipUnchangedPages: boolean;
  /** Scheduled runs are full at least this often; incremental in between. */
  fullIntervalMs: number;
}

export interface LogConfig {
  level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );

const boolean = (fallback: boolean) =>
  z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true');

const required = z.string({ message: 'is required' }).trim().min(1, { message: 'is required' });

/** Whether `value` parses as a URL with one of `protocols` (e.g. 'https:'). */
function hasProtocol(value: string, protocols: readonly string[]): boolean {
  return URL.canParse(value) && protocols.includes(new URL(value).protocol);
}

const httpUrl = z
  .string()
  .trim()
  .refine((value) => hasProtocol(value, ['http:', 'https:']), { message: 'must be an http(s) URL' })
  .transform((value) => value.replace(/\/+$/, ''));

const postgresUrl = required
  .refine((value) => hasProtocol(value, ['postgresql:', 'postgres:']), { message: 'must be a postgresql:// URL' })
  // Raw SQL and migrations use the search path; a dedicated database is the supported way.
  .refine((value) => !URL.canParse(value) || !new URL(value).searchParams.has('schema'), {
    message: 'must not set ?schema= (give account-sync a database of its own instead)',
  });

const databaseShape = {
  DATABASE_URL: postgresUrl,
};

const upvestShape = {
  UPVEST_BASE_URL: httpUrl.default('https://sandbox.upvest.co'),
  UPVEST_CLIENT_ID: required,
  UPVEST_CLIENT_SECRET: required,
  UPVEST_SCOPES: z.string().trim().min(1).default('accounts:read'),
  UPVEST_SIGNING_KEY_FILE: required,
  UPVEST_SIGNING_KEY_PASSPHRASE: z.string().optional(),
  UPVEST_SIGNING_KEY_ID: required,
  UPVEST_API_VERSION: z.string().trim().regex(/^\d+$/, { message: 'must be a major version number' }).default('1'),
  UPVEST_SIGNATURE_TTL_SECONDS: int(1, 300).default(30),
  UPVEST_TOKEN_REFRESH_MARGIN_SECONDS: int(0, 3600).default(60),
  UPVEST_CONNECT_TIMEOUT_MS: int(100, 120_000).default(5_000),
  UPVEST_REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
  UPVEST_MAX_RESPONSE_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(16 * 1024 * 1024),
  UPVEST_ALLOW_INSECURE_HTTP: boolean(false),
  UPVEST_RETRIES: int(0, 100).default(8),
  UPVEST_RETRY_MIN_DELAY_MS: int(0, 600_000).default(500),
  UPVEST_RETRY_MAX_DELAY_MS: int(0, 3_600_000).default(30_000),
  UPVEST_RETRY_MAX_TIME_MS: int(0, 86_400_000).default(300_000),
  UPVEST_MAX_REQUESTS_PER_SECOND: z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, { message: 'must be a positive number' })
    .transform(Number)
    .pipe(z.number().positive({ message: 'must be a positive number' }))
    .optional(),
};

const syncShape = {
  SYNC_PAGE_SIZE: int(2, 10_000).default(1000),
  SYNC_CONCURRENCY: int(1, 64).default(4),
  SYNC_MAX_PAGES: int(1, 100_000_000).default(100_000),
  SYNC_INCREMENTAL_LAG_MS: int(0, 86_400_000).default(60_000),
  SYNC_FULL_INTERVAL_MS: int(60_000, 30 * 86_400_000).default(86_400_000),
  SYNC_SKIP_UNCHANGED_PAGES: boolean(true),
};

const scheduleShape = {
  SYNC_INTERVAL_MS: int(1_000, 7 * 86_400_000).optional(),
  SYNC_CRON: z.string().trim().optional(),
  SYNC_TZ: z
    .string()
    .trim()
    .refine((zone) => isTimeZone(zone), { message: 'must be an IANA time zone such as Europe/Berlin' })
    .default('UTC'),
};

const DEFAULT_SYNC_INTERVAL_MS = 15 * 60_000;

const logShape = {
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

/** Parses `shape` out of `env`, turning unset and empty values into "absent". */
function parseSection<S extends z.ZodRawShape>(shape: S, env: Env): z.infer<z.ZodObject<S>> {
  const input: Record<string, string | undefined> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    input[key] = value === undefined || value === '' ? undefined : value;
  }
  const result = z.object(shape).safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => ({
      key: String(issue.path[0] ?? '?'),
      message: issue.code === 'invalid_type' && input[String(issue.path[0])] === undefined ? 'is required' : issue.message,
    })),
  );
}

/** Runs every parser, then reports all their problems together. */
function collect<T extends Record<string, () => unknown>>(parsers: T): { [K in keyof T]: ReturnType<T[K]> } {
  const problems: Array<{ key: string; message: string }> = [];
  const out: Record<string, unknown> = {};
  for (const [name, parse] of Object.entries(parsers)) {
    try {
      out[name] = parse();
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems);
      else throw error;
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as { [K in keyof T]: ReturnType<T[K]> };
}

export function parseDatabaseConfig(env: Env): DatabaseConfig {
  return { url: parseSection(databaseShape, env).DATABASE_URL };
}

export function parseUpvestConfig(env: Env): UpvestConfig {
  const v = parseSection(upvestShape, env);
  const problems: Array<{ key: string; message: string }> = [];
  if (v.UPVEST_RETRY_MAX_DELAY_MS < v.UPVEST_RETRY_MIN_DELAY_MS) {
    problems.push({ key: 'UPVEST_RETRY_MAX_DELAY_MS', message: 'must not be below UPVEST_RETRY_MIN_DELAY_MS' });
  }
  const base = new URL(v.UPVEST_BASE_URL);
  if (base.protocol === 'http:' && !isLoopback(base.hostname) && !v.UPVEST_ALLOW_INSECURE_HTTP) {
    problems.push({
      key: 'UPVEST_BASE_URL',
      message:
        'must be https: plain http would send the client secret and access tokens in clear text ' +
        '(http is accepted for loopback hosts, or anywhere with UPVEST_ALLOW_INSECURE_HTTP=true)',
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    baseUrl: v.UPVEST_BASE_URL,
    clientId: v.UPVEST_CLIENT_ID,
    clientSecret: v.UPVEST_CLIENT_SECRET,
    scopes: v.UPVEST_SCOPES.split(/\s+/).join(' '),
    signingKeyFile: v.UPVEST_SIGNING_KEY_FILE,
    signingKeyPassphrase: v.UPVEST_SIGNING_KEY_PASSPHRASE,
    signingKeyId: v.UPVEST_SIGNING_KEY_ID,
    apiVersion: v.UPVEST_API_VERSION,
    signatureTtlSeconds: v.UPVEST_SIGNATURE_TTL_SECONDS,
    tokenRefreshMarginSeconds: v.UPVEST_TOKEN_REFRESH_MARGIN_SECONDS,
    maxRequestsPerSecond: v.UPVEST_MAX_REQUESTS_PER_SECOND,
    connectTimeoutMs: v.UPVEST_CONNECT_TIMEOUT_MS,
    requestTimeoutMs: v.UPVEST_REQUEST_TIMEOUT_MS,
    maxResponseBytes: v.UPVEST_MAX_RESPONSE_BYTES,
    plainHttpToRemoteHost: base.protocol === 'http:' && !isLoopback(base.hostname),
    retry: {
      retries: v.UPVEST_RETRIES,
      minDelayMs: v.UPVEST_RETRY_MIN_DELAY_MS,
      maxDelayMs: v.UPVEST_RETRY_MAX_DELAY_MS,
      maxRetryTimeMs: v.UPVEST_RETRY_MAX_TIME_MS,
    },
  };
}

export function parseSyncConfig(env: Env): SyncConfig {
  const v = parseSection(syncShape, env);
  return {
    pageSize: v.SYNC_PAGE_SIZE,
    concurrency: v.SYNC_CONCURRENCY,
    maxPages: v.SYNC_MAX_PAGES,
    incrementalLagMs: v.SYNC_INCREMENTAL_LAG_MS,
    skipUnchangedPages: v.SYNC_SKIP_UNCHANGED_PAGES,
    fullIntervalMs: v.SYNC_FULL_INTERVAL_MS,
  };
}

export interface ScheduleConfig {
  /**
   * How often the daemon syncs; `status` calls the mirror stale past twice this. With a cron
   * pattern and no SYNC_INTERVAL_MS, the longest gap between its next few firings.
   */
  intervalMs: number;
  /** Set when SYNC_CRON is: the daemon fires on the pattern instead of every `intervalMs`. */
  cron: { pattern: string; tz: string } | null;
}

export function parseScheduleConfig(env: Env): ScheduleConfig {
  const v = parseSection(scheduleShape, env);
  if (v.SYNC_CRON === undefined) return { intervalMs: v.SYNC_INTERVAL_MS ?? DEFAULT_SYNC_INTERVAL_MS, cron: null };
  const gap = cronGapMs(v.SYNC_CRON, v.SYNC_TZ);
  if (typeof gap === 'string') throw new ConfigError([{ key: 'SYNC_CRON', message: gap }]);
  return { intervalMs: v.SYNC_INTERVAL_MS ?? gap, cron: { pattern: v.SYNC_CRON, tz: v.SYNC_TZ } };
}

/** The longest gap between the next firings of a cron pattern, or why the pattern is unusable. */
function cronGapMs(pattern: string, tz: string): number | string {
  try {
    const expression = CronExpressionParser.parse(pattern, { tz, currentDate: new Date() });
    const times = expression.take(8).map((date) => date.getTime());
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    if (gap < 1_000) return 'must not fire more than once a second';
    return gap;
  } catch (error) {
    return `is not a cron pattern (${error instanceof Error ? error.message : String(error)})`;
  }
}

/** Whether a URL's hostname is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export interface RedisConfig {
  url: string;
}

const redisShape = {
  REDIS_URL: z
    .string()
    .trim()
    .refine((value) => hasProtocol(value, ['redis:', 'rediss:']), { message: 'must be a redis:// or rediss:// URL' })
    .default('redis://127.0.0.1:6379'),
};

export function parseRedisConfig(env: Env): RedisConfig {
  return { url: parseSection(redisShape, env).REDIS_URL };
}

export interface QueueConfig {
  /** Redis key prefix of the queue; replicas that share it share one schedule and one queue. */
  prefix: string;
  /** Tries of one sync job before it is failed; configuration and auth errors fail at once. */
  attempts: number;
  /** First retry delay of a failed job; doubles on each further retry. */
  backoffMs: number;
  /** How long a worker's claim on a job lasts without renewal (renewed at half of it). */
  lockDurationMs: number;
  /** How often workers look for jobs whose worker died (their claim ran out). */
  stalledIntervalMs: number;
  /** How many times one job may be recovered from a dead worker before it is failed. */
  maxStalledCount: number;
  /** How long the whole queue pauses after a run ended in a 429 storm. */
  rateLimitPauseMs: number;
  /** How often the schedule is checked (and put back, e.g. after Redis lost its data). */
  scheduleCheckMs: number;
}

const queueShape = {
  QUEUE_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]*$/, { message: 'must be letters, digits, "_", ".", ":" or "-"' })
    .default('account-sync'),
  QUEUE_JOB_ATTEMPTS: int(1, 100).default(3),
  QUEUE_JOB_BACKOFF_MS: int(0, 86_400_000).default(30_000),
  QUEUE_LOCK_DURATION_MS: int(1_000, 3_600_000).default(30_000),
  QUEUE_STALLED_INTERVAL_MS: int(500, 3_600_000).default(30_000),
  QUEUE_MAX_STALLED_COUNT: int(0, 1_000).default(3),
  QUEUE_RATE_LIMIT_PAUSE_MS: int(100, 86_400_000).default(60_000),
  QUEUE_SCHEDULE_CHECK_MS: int(500, 3_600_000).default(30_000),
};

export function parseQueueConfig(env: Env): QueueConfig {
  const v = parseSection(queueShape, env);
  return {
    prefix: v.QUEUE_PREFIX,
    attempts: v.QUEUE_JOB_ATTEMPTS,
    backoffMs: v.QUEUE_JOB_BACKOFF_MS,
    lockDurationMs: v.QUEUE_LOCK_DURATION_MS,
    stalledIntervalMs: v.QUEUE_STALLED_INTERVAL_MS,
    maxStalledCount: v.QUEUE_MAX_STALLED_COUNT,
    rateLimitPauseMs: v.QUEUE_RATE_LIMIT_PAUSE_MS,
    scheduleCheckMs: v.QUEUE_SCHEDULE_CHECK_MS,
  };
}

export interface RunGuardConfig {
  /** An abandoned run idle for longer than this is closed as failed instead of resumed. */
  resumeWithinMs: number;
  /** How long a queued run waits for another process's run to end before it is skipped. */
  lockWaitMs: number;
}

const runGuardShape = {
  SYNC_RESUME_WITHIN_MS: int(0, 30 * 86_400_000).default(6 * 3_600_000),
  SYNC_LOCK_WAIT_MS: int(0, 3_600_000).default(10_000),
};

export function parseRunGuardConfig(env: Env): RunGuardConfig {
  const v = parseSection(runGuardShape, env);
  return { resumeWithinMs: v.SYNC_RESUME_WITHIN_MS, lockWaitMs: v.SYNC_LOCK_WAIT_MS };
}

export interface HealthConfig {
  host: string;
  /** 0 picks a free port (the one bound is logged). */
  port: number;
}

const healthShape = {
  HEALTH_HOST: z.string().trim().min(1).default('0.0.0.0'),
  HEALTH_PORT: int(0, 65_535).default(9464),
};

export function parseHealthConfig(env: Env): HealthConfig {
  const v = parseSection(healthShape, env);
  return { host: v.HEALTH_HOST, port: v.HEALTH_PORT };
}

export interface ShutdownConfig {
  /** After a stop signal, exit anyway after this long. */
  timeoutMs: number;
}

const shutdownShape = {
  SHUTDOWN_TIMEOUT_MS: int(100, 3_600_000).default(30_000),
};

export function parseShutdownConfig(env: Env): ShutdownConfig {
  return { timeoutMs: parseSection(shutdownShape, env).SHUTDOWN_TIMEOUT_MS };
}

export function parseLogConfig(env: Env): LogConfig {
  return { level: parseSection(logShape, env).LOG_LEVEL };
}

// --- Status page and queue dashboard (worker) -----------------------------------------------
// Self-contained so that it can move to a file of its own.

export interface StatusPageConfig {
  /** Serve /status (the status page and its JSON) on the health port. */
  enabled: boolean;
  /** How often the page asks for news; the browser is told, the server is not bound to it. */
  pollMs: number;
  /** The costly figures (accounts by status, daily trend, changes per hour) are recomputed at most this often. */
  refreshMs: number;
  /** Runs listed and charted. */
  runs: number;
  /** Serve Bull Board, read-only, at /admin/queues. */
  bullBoard: boolean;
}

const booleanSetting = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default(fallback)
    .transform((value) => value === 'true');

const statusPageShape = {
  STATUS_PAGE_ENABLED: booleanSetting('true'),
  STATUS_PAGE_POLL_MS: int(250, 600_000).default(2_000),
  STATUS_PAGE_REFRESH_MS: int(0, 3_600_000).default(10_000),
  STATUS_PAGE_RUNS: int(1, 500).default(30),
  BULL_BOARD_ENABLED: booleanSetting('false'),
};

export function parseStatusPageConfig(env: Env): StatusPageConfig {
  const v = parseSection(statusPageShape, env);
  return {
    enabled: v.STATUS_PAGE_ENABLED,
    pollMs: v.STATUS_PAGE_POLL_MS,
    refreshMs: v.STATUS_PAGE_REFRESH_MS,
    runs: v.STATUS_PAGE_RUNS,
    bullBoard: v.BULL_BOARD_ENABLED,
  };
}

/** Every section of the settings, by the name commands ask for it. */
const SECTIONS = {
  database: parseDatabaseConfig,
  upvest: parseUpvestConfig,
  sync: parseSyncConfig,
  runGuard: parseRunGuardConfig,
  schedule: parseScheduleConfig,
  redis: parseRedisConfig,
  queue: parseQueueConfig,
  health: parseHealthConfig,
  shutdown: parseShutdownConfig,
  log: parseLogConfig,
  statusPage: parseStatusPageConfig,
} as const;

type Sections = { [K in keyof typeof SECTIONS]: ReturnType<(typeof SECTIONS)[K]> };
type SectionName = keyof Sections;

/** Parses the named sections; the problems of all of them are reported together. */
function loadSections<K extends SectionName>(env: Env, names: readonly K[]): Pick<Sections, K> {
  return collect(Object.fromEntries(names.map((name) => [name, () => SECTIONS[name](env)]))) as Pick<Sections, K>;
}

const SYNC_SECTIONS = ['database', 'upvest', 'sync', 'runGuard', 'log'] as const;
const WORKER_SECTIONS = [...SYNC_SECTIONS, 'schedule', 'redis', 'queue', 'health', 'shutdown', 'statusPage'] as const;

export type SyncCommandConfig = Pick<Sections, (typeof SYNC_SECTIONS)[number]>;
export type WorkerCommandConfig = Pick<Sections, (typeof WORKER_SECTIONS)[number]>;
export type TriggerCommandConfig = Pick<Sections, 'redis' | 'queue' | 'log'>;
export type DatabaseCommandConfig = Pick<Sections, 'database' | 'log'>;

export function loadSyncCommandConfig(env: Env = process.env): SyncCommandConfig {
  return loadSections(env, SYNC_SECTIONS);
}

export function loadWorkerCommandConfig(env: Env = process.env): WorkerCommandConfig {
  return loadSections(env, WORKER_SECTIONS);
}

export function loadTriggerCommandConfig(env: Env = process.env): TriggerCommandConfig {
  return loadSections(env, ['redis', 'queue', 'log']);
}

/** What a walk needs without a database (`sync --dry-run`). */
export function loadUpvestCommandConfig(env: Env = process.env): Pick<Sections, 'upvest' | 'sync' | 'log'> {
  return loadSections(env, ['upvest', 'sync', 'log']);
}

export function loadDatabaseCommandConfig(env: Env = process.env): DatabaseCommandConfig {
  return loadSections(env, ['database', 'log']);
}

export function loadLogConfig(env: Env = process.env): LogConfig {
  return parseLogConfig(env);
}

// ---- Webhooks (issue 12): the receiver of Upvest's webhook deliveries. Self-contained section.

export interface WebhooksConfig {
  host: string;
  /** 0 picks a free port (the one bound is logged). */
  port: number;
  /** The one path deliveries are accepted on. */
  path: string;
  /** Larger bodies are answered 413; Upvest's batches are at most 1 MiB plus one event. */
  maxBodyBytes: number;
  /** A signature created longer ago than this is refused as stale; 0: no limit. */
  signatureMaxAgeSeconds: number;
  /** Tolerated clock difference for created (and expires). */
  signatureClockSkewSeconds: number;
  /** Refuse signatures whose expires has passed. */
  signatureEnforceExpires: boolean;
  /** An unknown keyid fetches Upvest's keys again, but never sooner than this after the last fetch. */
  keysMinRefetchIntervalMs: number;
  /** Addresses and CIDR ranges deliveries may come from; empty: any. */
  allowedSources: string[];
  /** Read the client address from the last X-Forwarded-For entry (only behind a trusted proxy). */
  trustForwardedFor: boolean;
  /** Scopes of the receiver's token (GET /auth/verify_keys needs webhooks:read or webhooks:admin). */
  tokenScopes: string;
  /** Method of the test-delivery call: POST per Upvest's API spec, GET per its guide. */
  testMethod: 'POST' | 'GET';
}

const webhookFlag = (fallback: 'true' | 'false') =>
  z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default(fallback)
    .transform((value) => value === 'true');

const webhooksShape = {
  WEBHOOK_RECEIVER_HOST: z.string().trim().min(1).default('0.0.0.0'),
  WEBHOOK_RECEIVER_PORT: int(0, 65_535).default(9465),
  WEBHOOK_RECEIVER_PATH: z
    .string()
    .trim()
    .regex(/^\/[A-Za-z0-9._~\-/]*$/, { message: 'must be a path such as /webhooks/upvest' })
    .default('/webhooks/upvest'),
  WEBHOOK_MAX_BODY_BYTES: int(1_024, 64 * 1_048_576).default(2 * 1_048_576),
  WEBHOOK_SIGNATURE_MAX_AGE_SECONDS: int(0, 365 * 86_400).default(7 * 86_400),
  WEBHOOK_SIGNATURE_CLOCK_SKEW_SECONDS: int(0, 3_600).default(60),
  WEBHOOK_SIGNATURE_ENFORCE_EXPIRES: webhookFlag('false'),
  WEBHOOK_KEYS_MIN_REFETCH_INTERVAL_MS: int(0, 86_400_000).default(60_000),
  WEBHOOK_ALLOWED_SOURCES: z
    .string()
    .trim()
    .transform((value) => value.split(/[\s,]+/).filter((entry) => entry !== ''))
    .refine((entries) => entries.every(isAddressOrRange), { message: 'must list IP addresses or CIDR ranges, separated by commas' })
    .optional(),
  WEBHOOK_TRUST_FORWARDED_FOR: webhookFlag('false'),
  WEBHOOK_TOKEN_SCOPES: z.string().trim().min(1).default('webhooks:read'),
  WEBHOOK_TEST_METHOD: z.enum(['POST', 'GET'], { message: 'must be POST or GET' }).default('POST'),
};

function isAddressOrRange(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

export function parseWebhooksConfig(env: Env): WebhooksConfig {
  const v = parseSection(webhooksShape, env);
  return {
    host: v.WEBHOOK_RECEIVER_HOST,
    port: v.WEBHOOK_RECEIVER_PORT,
    path: v.WEBHOOK_RECEIVER_PATH,
    maxBodyBytes: v.WEBHOOK_MAX_BODY_BYTES,
    signatureMaxAgeSeconds: v.WEBHOOK_SIGNATURE_MAX_AGE_SECONDS,
    signatureClockSkewSeconds: v.WEBHOOK_SIGNATURE_CLOCK_SKEW_SECONDS,
    signatureEnforceExpires: v.WEBHOOK_SIGNATURE_ENFORCE_EXPIRES,
    keysMinRefetchIntervalMs: v.WEBHOOK_KEYS_MIN_REFETCH_INTERVAL_MS,
    allowedSources: v.WEBHOOK_ALLOWED_SOURCES ?? [],
    trustForwardedFor: v.WEBHOOK_TRUST_FORWARDED_FOR,
    tokenScopes: v.WEBHOOK_TOKEN_SCOPES.split(/\s+/).join(' '),
    testMethod: v.WEBHOOK_TEST_METHOD,
  };
}

export interface ReceiverCommandConfig {
  database: DatabaseConfig;
  upvest: UpvestConfig;
  webhooks: WebhooksConfig;
  log: LogConfig;
}

export function loadReceiverCommandConfig(env: Env = process.env): ReceiverCommandConfig {
  return collect({
    database: () => parseDatabaseConfig(env),
    upvest: () => parseUpvestConfig(env),
    webhooks: () => parseWebhooksConfig(env),
    log: () => parseLogConfig(env),
  });
}

/** What `webhooks register|list|test|delete` need: Upvest and these settings, no database. */
export function loadWebhooksCommandConfig(env: Env = process.env): Omit<ReceiverCommandConfig, 'database'> {
  return collect({
    upvest: () => parseUpvestConfig(env),
    webhooks: () => parseWebhooksConfig(env),
    log: () => parseLogConfig(env),
  });
}

/** Whether standard error is an interactive terminal (progress display) — read here, once. */
export function isInteractive(): boolean {
  return Boolean(process.stderr.isTTY) && process.env.CI !== 'true';
}
