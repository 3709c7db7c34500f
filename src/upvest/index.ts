// Assembles the Upvest client from its settings; the pieces stay separately usable.
import type { UpvestSettings } from './settings.js';
import type { UpvestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createUpvestClient, type UpvestClient } from './client.js';
import { createHttpExchange, type HttpExchange } from './http.js';
import { RequestGate } from './retry.js';
import { createSigner, keyFilePermissionWarning, loadSigningKey } from './signing.js';
import { createTokenProvider } from './token.js';

export type { UpvestClient, AccountsPage, ListAccountsQuery } from './client.js';
export type { UpvestSettings, RetrySettings } from './settings.js';

export interface UpvestClientOptions {
  logger: Logger;
  now?: () => number;
  /** Shared by every request of the client; tests hand in one with a recording sleep. */
  gate?: RequestGate;
  onRetry?: (error: UpvestError) => void;
  /** Every exchange with Upvest, answered (its status) or not (no status), for metrics. */
  onResponse?: (exchange: { method: string; path: string; status: number | undefined }) => void;
  /** Learns every access token as it is received, so that no echo of one is ever written. */
  secrets?: { addToken(token: string): void };
}

export function createUpvestClientFromConfig(config: UpvestSettings, options: UpvestClientOptions): UpvestClient {
  const now = options.now ?? Date.now;
  const key = loadSigningKey({
    file: config.signingKeyFile,
    passphrase: config.signingKeyPassphrase,
    keyId: config.signingKeyId,
  });
  const keyWarning = keyFilePermissionWarning(config.signingKeyFile);
  if (keyWarning) options.logger.warn(keyWarning);
  if (config.plainHttpToRemoteHost) {
    options.logger.warn(
      `UPVEST_BASE_URL ${config.baseUrl} is plain http (UPVEST_ALLOW_INSECURE_HTTP=true): the client secret and access tokens travel unencrypted`,
    );
  }
  const exchange = observed(
    createHttpExchange({
      baseUrl: config.baseUrl,
      connectTimeoutMs: config.connectTimeoutMs,
      requestTimeoutMs: config.requestTimeoutMs,
      maxResponseBytes: config.maxResponseBytes,
      signer: createSigner({ key, ttlSeconds: config.signatureTtlSeconds, now }),
    }),
    options.onResponse,
  );
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
    options.secrets ? (token) => options.secrets!.addToken(token) : undefined,
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

function observed(exchange: HttpExchange, onResponse: UpvestClientOptions['onResponse']): HttpExchange {
  if (!onResponse) return exchange;
  return async (request) => {
    try {
      const response = await exchange(request);
      onResponse({ method: request.method, path: request.path, status: response.status });
      return response;
    } catch (error) {
      onResponse({ method: request.method, path: request.path, status: undefined });
      throw error;
    }
  };
}
