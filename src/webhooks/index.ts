// Assembles the webhook pieces from their settings: the Upvest webhook API (signed calls with a
// token of the webhook scopes), the verification-key cache, and the receiver.
import type { ReceiverCommandConfig, UpvestConfig, WebhooksConfig } from '../config.js';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { createHttpExchange } from '../upvest/http.js';
import { RequestGate } from '../upvest/retry.js';
import { createSigner, loadSigningKey } from '../upvest/signing.js';
import { createTokenProvider } from '../upvest/token.js';
import { createWebhooksApi, type WebhooksApi } from '../upvest/webhooks-api.js';
import { startReceiver, type Receiver, type ReceiverOutcome } from './receiver.js';
import { VerifyKeyCache } from './verify-keys.js';

export { claimPendingEvents, markEvents, WEBHOOK_EVENTS_CHANNEL, type EventOutcome, type PendingEvent } from './event-store.js';
export type { Receiver, ReceiverOutcome, WebhooksApi };

export function createWebhooksApiFromConfig(
  upvest: UpvestConfig,
  webhooks: WebhooksConfig,
  options: { logger: Logger; now?: () => number; scopes?: string },
): WebhooksApi {
  const now = options.now ?? Date.now;
  const key = loadSigningKey({ file: upvest.signingKeyFile, passphrase: upvest.signingKeyPassphrase, keyId: upvest.signingKeyId });
  // Not a literal, so that it also fits HttpOptions once they require maxResponseBytes
  // (main's bad-data work): the key sets and the webhook list are small either way.
  const httpOptions = {
    baseUrl: upvest.baseUrl,
    connectTimeoutMs: upvest.connectTimeoutMs,
    requestTimeoutMs: upvest.requestTimeoutMs,
    maxResponseBytes: (upvest as UpvestConfig & { maxResponseBytes?: number }).maxResponseBytes ?? 16 * 1_048_576,
    signer: createSigner({ key, ttlSeconds: upvest.signatureTtlSeconds, now }),
  };
  const exchange = createHttpExchange(httpOptions);
  const tokens = createTokenProvider(
    exchange,
    {
      clientId: upvest.clientId,
      clientSecret: upvest.clientSecret,
      scopes: options.scopes ?? webhooks.tokenScopes,
      apiVersion: upvest.apiVersion,
      refreshMarginSeconds: upvest.tokenRefreshMarginSeconds,
    },
    now,
  );
  return createWebhooksApi({
    exchange,
    tokens,
    gate: new RequestGate({ now, maxRate: upvest.maxRequestsPerSecond }),
    logger: options.logger,
    retry: upvest.retry,
    clientId: upvest.clientId,
    apiVersion: upvest.apiVersion,
    testMethod: webhooks.testMethod,
    now,
  });
}

export interface RunningReceiver {
  receiver: Receiver;
  keys: VerifyKeyCache;
}

export async function startReceiverFromConfig(
  config: ReceiverCommandConfig,
  deps: { prisma: PrismaClient; logger: Logger; now?: () => number; onOutcome?: (outcome: ReceiverOutcome) => void },
): Promise<RunningReceiver> {
  const api = createWebhooksApiFromConfig(config.upvest, config.webhooks, { logger: deps.logger, now: deps.now });
  const keys = new VerifyKeyCache({
    fetchKeys: () => api.verifyKeys(),
    minRefetchIntervalMs: config.webhooks.keysMinRefetchIntervalMs,
    logger: deps.logger,
    now: deps.now,
  });
  const receiver = await startReceiver({
    host: config.webhooks.host,
    port: config.webhooks.port,
    path: config.webhooks.path,
    maxBodyBytes: config.webhooks.maxBodyBytes,
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
