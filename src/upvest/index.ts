// Assembles the Upvest clients (accounts, webhooks) from their settings; the pieces stay
// separately usable.
import type { UpvestSettings } from './settings.js';
import type { UpvestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createUpvestClient, type UpvestClient } from './client.js';
import { createHttpExchange, type HttpExchange } from './http.js';
import { RequestGate } from './retry.js';
import { createSigner, keyFilePermissionWarning, loadSigningKey } from './signing.js';
import { createTokenProvider, type TokenProvider } from './token.js';

export type { UpvestClient, AccountsPage, ListAccountsQuery } from './client.js';
export type { UpvestSettings, RetrySettings } from './settings.js';

/** What every use of Upvest shares: the signed exchange, the token and the request budget. */
export interface UpvestConnection {
  exchange: HttpExchange;
  tokens: TokenProvider;
  gate: RequestGate;
}

export interface UpvestConnectionOptions {
  logger: Logger;
  now?: () => number;
  /** The token's scopes, when not the settings' own (the webhook endpoints need theirs). */
  scopes?: string;
  /** Shared by every request; tests hand in one with a recording sleep. */
  gate?: RequestGate;
  /** Every exchange with Upvest, answered (its status) or not (no status), for metrics. */
  onResponse?: (exchange: { method: string; path: string; status: number | undefined }) => void;
  /** Learns every access token as it is received, so that no echo of one is ever written. */
  secrets?: { addToken(token: string): void };
}

/**
 * The signing key, the signed HTTP exchange, the token provider and the request gate, built
 * once from the settings for whatever speaks to Upvest (the accounts client, the webhook API).
 */
export function connectUpvest(settings: UpvestSettings, options: UpvestConnectionOptions): UpvestConnection {
  const now = options.now ?? Date.now;
  const key = loadSigningKey({
    file: settings.signingKeyFile,
    passphrase: settings.signingKeyPassphrase,
    keyId: settings.signingKeyId,
  });
  const keyWarning = keyFilePermissionWarning(settings.signingKeyFile);
  if (keyWarning) options.logger.warn(keyWarning);
  if (settings.plainHttpToRemoteHost) {
    options.logger.warn(
      `UPVEST_BASE_URL ${settings.baseUrl} is plain http (UPVEST_ALLOW_INSECURE_HTTP=true): the client secret and access tokens travel unencrypted`,
    );
  }
  const exchange = observed(
    createHttpExchange({
      baseUrl: settings.baseUrl,
      connectTimeoutMs: settings.connectTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      maxResponseBytes: settings.maxResponseBytes,
      signer: createSigner({ key, ttlSeconds: settings.signatureTtlSeconds, now }),
    }),
    options.onResponse,
  );
  const { secrets } = options;
  const tokens = createTokenProvider(
    exchange,
    {
      clientId: settings.clientId,
      clientSecret: settings.clientSecret,
      scopes: options.scopes ?? settings.scopes,
      apiVersion: settings.apiVersion,
      refreshMarginSeconds: settings.tokenRefreshMarginSeconds,
    },
    now,
    secrets ? (token) => secrets.addToken(token) : undefined,
  );
  return { exchange, tokens, gate: options.gate ?? new RequestGate({ now, maxRate: settings.maxRequestsPerSecond }) };
}

export interface UpvestClientOptions extends Omit<UpvestConnectionOptions, 'scopes'> {
  onRetry?: (error: UpvestError) => void;
}

export function createUpvestClientFromConfig(config: UpvestSettings, options: UpvestClientOptions): UpvestClient {
  const now = options.now ?? Date.now;
  return createUpvestClient({
    ...connectUpvest(config, options),
    logger: options.logger,
    retry: config.retry,
    clientId: config.clientId,
    apiVersion: config.apiVersion,
    onRetry: options.onRetry,
    now,
  });
}

function observed(exchange: HttpExchange, onResponse: UpvestConnectionOptions['onResponse']): HttpExchange {
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
