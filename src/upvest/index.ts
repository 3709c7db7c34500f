// Assembles the Upvest client from its settings; the pieces stay separately usable.
import type { UpvestConfig } from '../config.js';
import type { UpvestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createUpvestClient, type UpvestClient } from './client.js';
import { createHttpExchange } from './http.js';
import { RequestGate } from './retry.js';
import { createSigner, loadSigningKey } from './signing.js';
import { createTokenProvider } from './token.js';

export type { UpvestClient, AccountsPage, ListAccountsQuery } from './client.js';

export interface UpvestClientOptions {
  logger: Logger;
  now?: () => number;
  /** Shared by every request of the client; tests hand in one with a recording sleep. */
  gate?: RequestGate;
  onRetry?: (error: UpvestError) => void;
}

export function createUpvestClientFromConfig(config: UpvestConfig, options: UpvestClientOptions): UpvestClient {
  const now = options.now ?? Date.now;
  const key = loadSigningKey({
    file: config.signingKeyFile,
    passphrase: config.signingKeyPassphrase,
    keyId: config.signingKeyId,
  });
  const exchange = createHttpExchange({
    baseUrl: config.baseUrl,
    connectTimeoutMs: config.connectTimeoutMs,
    requestTimeoutMs: config.requestTimeoutMs,
    signer: createSigner({ key, ttlSeconds: config.signatureTtlSeconds, now }),
  });
  const tokens = createTokenProvider(
    exchange,
    {
      clientId: config.clientId,
      clientSecret: config.clientSecret,
      scopes: config.scopes,
      apiVersion: config.apiVersion,
      refreshMarginSeconds: config.tokenRefreshMarginSeconds,
    },
    now,
  );
  return createUpvestClient({
    exchange,
    tokens,
    gate: options.gate ?? new RequestGate({ now, maxRate: config.maxRequestsPerSecond }),
    logger: options.logger,
    retry: config.retry,
    clientId: config.clientId,
    apiVersion: config.apiVersion,
    onRetry: options.onRetry,
    now,
  });
}
