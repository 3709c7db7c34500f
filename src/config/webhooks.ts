// WEBHOOK_*: the receiver of Upvest's webhook deliveries (`receiver`), what it checks, how it
// applies the events it stored, and what `webhooks register|list|test|delete` send.
import { isIP } from 'node:net';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { optional, section, withDefault } from './setting.js';
import { isLoopback } from './upvest.js';
import { trueOrFalse, wholeNumber } from './values.js';

export interface WebhooksConfig {
  host: string;
  /** 0 picks a free port (the one bound is logged). */
  port: number;
  /** The one path deliveries are accepted on. */
  path: string;
  /** Larger bodies are answered 413; Upvest's batches are at most 1 MiB plus one event. */
  maxBodyBytes: number;
  /** A request's headers must arrive within this long, the whole request within requestTimeoutMs. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Connections beyond this many are dropped at once. */
  maxConnections: number;
  /** A signature created longer ago than this is refused as stale; 0: no limit. */
  signatureMaxAgeSeconds: number;
  /** Tolerated clock difference for created (and expires). */
  signatureClockSkewSeconds: number;
  /** Refuse signatures whose expires has passed. */
  signatureEnforceExpires: boolean;
  /** An unknown keyid fetches Upvest's keys again when the last fetch started at least this long ago... */
  keysMinRefetchIntervalMs: number;
  /** ...and fewer than this many such fetches started within the last minute. */
  keysUnknownFetchesPerMinute: number;
  /** Upvest's keys are fetched this often in the background (withdrawn keys are noticed so). */
  keysRefreshMs: number;
  /** A key Upvest no longer lists is trusted this much longer. */
  keysWithdrawnGraceMs: number;
  /** An event of a subscription not known to be ours reads GET /webhooks again at most this often. */
  subscriptionsMinRefetchIntervalMs: number;
  /** Addresses and CIDR ranges deliveries may come from; empty: any. */
  allowedSources: string[];
  /** Read the client address from the last X-Forwarded-For entry (only behind a trusted proxy). */
  trustForwardedFor: boolean;
  /** Scopes of the receiver's token (GET /auth/verify_keys needs webhooks:read or webhooks:admin). */
  tokenScopes: string;
  /** Method of the test-delivery call: POST per Upvest's API spec, GET per its guide. */
  testMethod: 'POST' | 'GET';
  /** Whether this receiver applies stored events to the mirror; receivers that do take turns. */
  apply: boolean;
  /** Events applied per transaction. */
  applyBatchSize: number;
  /** How often pending events are looked for without a notification. */
  applySweepMs: number;
  /** Address of the receiver's /healthz, /readyz and /metrics: loopback unless set, apart from the deliveries'. */
  healthHost: string;
  /** `healthHost` is a loopback address. */
  healthLoopbackOnly: boolean;
  /** Port of the receiver's /healthz, /readyz and /metrics, on `healthHost`; 0 picks a free port. */
  healthPort: number;
}

const path = z
  .string()
  .trim()
  .regex(/^\/[A-Za-z0-9._~\-/]*$/, { message: 'must be a path such as /webhooks/upvest' });

const sources = z
  .string()
  .trim()
  .transform((value) => value.split(/[\s,]+/).filter((entry) => entry !== ''))
  .refine((entries) => entries.every(isAddressOrRange), { message: 'must list IP addresses or CIDR ranges, separated by commas' });

export const webhooks = section(
  {
    WEBHOOK_RECEIVER_HOST: withDefault(z.string().trim().min(1), '0.0.0.0', 'address the webhook receiver listens on'),
    WEBHOOK_RECEIVER_PORT: withDefault(wholeNumber(0, 65_535), '9465', 'its port (0: any free port)'),
    WEBHOOK_RECEIVER_PATH: withDefault(path, '/webhooks/upvest', 'the one path deliveries are accepted on'),
    WEBHOOK_MAX_BODY_BYTES: withDefault(
      wholeNumber(1_024, 64 * 1_048_576),
      String(2 * 1_048_576),
      'larger delivery bodies are answered 413',
    ),
    WEBHOOK_HEADERS_TIMEOUT_MS: withDefault(wholeNumber(500, 60_000), '5000', "a delivery's headers must have arrived within this long (else 408)"),
    WEBHOOK_REQUEST_TIMEOUT_MS: withDefault(
      wholeNumber(1_000, 120_000),
      '7000',
      'the whole delivery, body included, must have arrived within this long (else 408)',
    ),
    WEBHOOK_MAX_CONNECTIONS: withDefault(wholeNumber(1, 100_000), '256', 'connections to the receiver beyond this many are dropped at once'),
    WEBHOOK_SIGNATURE_MAX_AGE_SECONDS: withDefault(
      wholeNumber(0, 365 * 86_400),
      String(7 * 86_400),
      "a signature's created older than this is stale (0: no limit)",
    ),
    WEBHOOK_SIGNATURE_CLOCK_SKEW_SECONDS: withDefault(wholeNumber(0, 3_600), '60', 'tolerated clock difference for created and expires'),
    WEBHOOK_SIGNATURE_ENFORCE_EXPIRES: withDefault(trueOrFalse, 'false', 'refuse signatures whose expires has passed'),
    WEBHOOK_KEYS_MIN_REFETCH_INTERVAL_MS: withDefault(
      wholeNumber(0, 86_400_000),
      '1000',
      "an unknown key id fetches Upvest's keys again only when the last fetch started at least this long ago",
    ),
    WEBHOOK_KEYS_UNKNOWN_FETCHES_PER_MINUTE: withDefault(
      wholeNumber(1, 600),
      '4',
      "and only while fewer fetches for unknown key ids than this started within the last minute",
    ),
    WEBHOOK_KEYS_REFRESH_MS: withDefault(wholeNumber(1_000, 86_400_000), '60000', "Upvest's keys are fetched this often in the background"),
    WEBHOOK_KEYS_WITHDRAWN_GRACE_MS: withDefault(
      wholeNumber(0, 30 * 86_400_000),
      '300000',
      'a key Upvest no longer lists is trusted this much longer, then refused',
    ),
    WEBHOOK_SUBSCRIPTIONS_MIN_REFETCH_INTERVAL_MS: withDefault(
      wholeNumber(0, 3_600_000),
      '2000',
      "an event whose webhook_id is none of this tenant's known subscriptions reads GET /webhooks again at most this often",
    ),
    WEBHOOK_ALLOWED_SOURCES: optional(sources, 'IP addresses and CIDR ranges deliveries may come from (unset: any)'),
    WEBHOOK_TRUST_FORWARDED_FOR: withDefault(trueOrFalse, 'false', 'take the source address from the last X-Forwarded-For entry'),
    WEBHOOK_TOKEN_SCOPES: withDefault(z.string().trim().min(1), 'webhooks:read', "scopes of the receiver's token"),
    WEBHOOK_TEST_METHOD: withDefault(z.enum(['POST', 'GET'], { message: 'must be POST or GET' }), 'POST', 'method of `webhooks test`'),
    WEBHOOK_APPLY: withDefault(trueOrFalse, 'true', 'whether this receiver applies stored events to the mirror (receivers take turns)'),
    WEBHOOK_APPLY_BATCH_SIZE: withDefault(wholeNumber(1, 10_000), '200', 'events applied per transaction'),
    WEBHOOK_APPLY_SWEEP_MS: withDefault(
      wholeNumber(100, 3_600_000),
      '5000',
      'how often pending events are looked for without a notification',
    ),
    WEBHOOK_RECEIVER_HEALTH_HOST: withDefault(
      z.string().trim().min(1),
      '127.0.0.1',
      "address of the receiver's /healthz, /readyz and /metrics (0.0.0.0 for Kubernetes probes or a scrape from another host)",
    ),
    WEBHOOK_RECEIVER_HEALTH_PORT: withDefault(
      wholeNumber(0, 65_535),
      '9466',
      "port of the receiver's /healthz, /readyz and /metrics on WEBHOOK_RECEIVER_HEALTH_HOST (0: any free port)",
    ),
  },
  (v): WebhooksConfig => {
    if (v.WEBHOOK_HEADERS_TIMEOUT_MS > v.WEBHOOK_REQUEST_TIMEOUT_MS) {
      throw new ConfigError([{ key: 'WEBHOOK_HEADERS_TIMEOUT_MS', message: 'must not be above WEBHOOK_REQUEST_TIMEOUT_MS' }]);
    }
    return {
      host: v.WEBHOOK_RECEIVER_HOST,
      port: v.WEBHOOK_RECEIVER_PORT,
      path: v.WEBHOOK_RECEIVER_PATH,
      maxBodyBytes: v.WEBHOOK_MAX_BODY_BYTES,
      headersTimeoutMs: v.WEBHOOK_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: v.WEBHOOK_REQUEST_TIMEOUT_MS,
      maxConnections: v.WEBHOOK_MAX_CONNECTIONS,
      signatureMaxAgeSeconds: v.WEBHOOK_SIGNATURE_MAX_AGE_SECONDS,
      signatureClockSkewSeconds: v.WEBHOOK_SIGNATURE_CLOCK_SKEW_SECONDS,
      signatureEnforceExpires: v.WEBHOOK_SIGNATURE_ENFORCE_EXPIRES,
      keysMinRefetchIntervalMs: v.WEBHOOK_KEYS_MIN_REFETCH_INTERVAL_MS,
      keysUnknownFetchesPerMinute: v.WEBHOOK_KEYS_UNKNOWN_FETCHES_PER_MINUTE,
      keysRefreshMs: v.WEBHOOK_KEYS_REFRESH_MS,
      keysWithdrawnGraceMs: v.WEBHOOK_KEYS_WITHDRAWN_GRACE_MS,
      subscriptionsMinRefetchIntervalMs: v.WEBHOOK_SUBSCRIPTIONS_MIN_REFETCH_INTERVAL_MS,
      allowedSources: v.WEBHOOK_ALLOWED_SOURCES ?? [],
      trustForwardedFor: v.WEBHOOK_TRUST_FORWARDED_FOR,
      tokenScopes: v.WEBHOOK_TOKEN_SCOPES.split(/\s+/).join(' '),
      testMethod: v.WEBHOOK_TEST_METHOD,
      apply: v.WEBHOOK_APPLY,
      applyBatchSize: v.WEBHOOK_APPLY_BATCH_SIZE,
      applySweepMs: v.WEBHOOK_APPLY_SWEEP_MS,
      healthHost: v.WEBHOOK_RECEIVER_HEALTH_HOST,
      healthLoopbackOnly: isLoopback(v.WEBHOOK_RECEIVER_HEALTH_HOST),
      healthPort: v.WEBHOOK_RECEIVER_HEALTH_PORT,
    };
  },
);

function isAddressOrRange(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  return /^\d+$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}
