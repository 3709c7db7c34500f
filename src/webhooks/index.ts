// Assembles the webhook pieces from their settings: the Upvest webhook API (signed calls with a
// token of the webhook scopes), the verification-key cache, and the receiver.
import type { WebhooksConfig } from '../config/index.js';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { connectUpvest, type UpvestSettings } from '../upvest/index.js';
import { createWebhooksApi, type WebhooksApi } from '../upvest/webhooks-api.js';
import { OurSubscriptions } from './our-subscriptions.js';
import { startReceiver, type Receiver, type ReceiverOutcome } from './receiver.js';
import { VerifyKeyCache } from './verify-keys.js';

export { claimPendingEvents, markEvents, WEBHOOK_EVENTS_CHANNEL, type EventOutcome, type PendingEvent } from './event-store.js';
export type { Receiver, ReceiverOutcome, WebhooksApi };
export { OurSubscriptions };

export interface WebhooksApiOptions {
  logger: Logger;
  now?: () => number;
  /** The token's scopes; WEBHOOK_TOKEN_SCOPES unless given. */
  scopes?: string;
  /** Learns every access token as it is received, so that no echo of one is ever written. */
  secrets?: { addToken(token: string): void };
}

export function createWebhooksApiFromConfig(
  upvest: UpvestSettings,
  webhooks: Pick<WebhooksConfig, 'tokenScopes' | 'testMethod'>,
  options: WebhooksApiOptions,
): WebhooksApi {
  const connection = connectUpvest(upvest, { ...options, scopes: options.scopes ?? webhooks.tokenScopes });
  return createWebhooksApi({
    ...connection,
    logger: options.logger,
    retry: upvest.retry,
    clientId: upvest.clientId,
    apiVersion: upvest.apiVersion,
    testMethod: webhooks.testMethod,
    now: options.now,
  });
}

export interface RunningReceiver {
  receiver: Receiver;
  keys: VerifyKeyCache;
}

export interface ReceiverDeps {
  prisma: PrismaClient;
  logger: Logger;
  /** Learns the tokens the receiver fetches Upvest's keys with. */
  secrets?: { addToken(token: string): void };
  now?: () => number;
  onOutcome?: (outcome: ReceiverOutcome) => void;
}

export async function startReceiverFromConfig(
  config: { upvest: UpvestSettings; webhooks: WebhooksConfig },
  deps: ReceiverDeps,
): Promise<RunningReceiver> {
  const api = createWebhooksApiFromConfig(config.upvest, config.webhooks, { logger: deps.logger, now: deps.now, secrets: deps.secrets });
  const keys = new VerifyKeyCache({
    fetchKeys: () => api.verifyKeys(),
    minRefetchIntervalMs: config.webhooks.keysMinRefetchIntervalMs,
    maxUnknownFetchesPerMinute: config.webhooks.keysUnknownFetchesPerMinute,
    withdrawnGraceMs: config.webhooks.keysWithdrawnGraceMs,
    logger: deps.logger,
    now: deps.now,
  });
  const receiver = await startReceiver({
    host: config.webhooks.host,
    port: config.webhooks.port,
    path: config.webhooks.path,
    maxBodyBytes: config.webhooks.maxBodyBytes,
    limits: {
      headersTimeoutMs: config.webhooks.headersTimeoutMs,
      requestTimeoutMs: config.webhooks.requestTimeoutMs,
      maxConnections: config.webhooks.maxConnections,
    },
    signature: {
      maxAgeSeconds: config.webhooks.signatureMaxAgeSeconds,
      clockSkewSeconds: config.webhooks.signatureClockSkewSeconds,
      enforceExpires: config.webhooks.signatureEnforceExpires,
    },
    allowedSources: config.webhooks.allowedSources,
    trustForwardedFor: config.webhooks.trustForwardedFor,
    keys: (keyId) => keys.get(keyId),
    prisma: deps.prisma,
    logger: deps.logger,
    now: deps.now,
    onOutcome: deps.onOutcome,
  });
  return { receiver, keys };
}

/** This tenant's subscriptions, read with GET /webhooks (the receiver's token, webhooks:read). */
export function ourSubscriptionsFromConfig(
  config: { upvest: UpvestSettings; webhooks: WebhooksConfig },
  deps: { logger: Logger; secrets?: { addToken(token: string): void }; now?: () => number },
): OurSubscriptions {
  const api = createWebhooksApiFromConfig(config.upvest, config.webhooks, { logger: deps.logger, now: deps.now, secrets: deps.secrets });
  return new OurSubscriptions({
    listAll: () => api.listAll(),
    minRefetchIntervalMs: config.webhooks.subscriptionsMinRefetchIntervalMs,
    logger: deps.logger,
    now: deps.now,
  });
}
