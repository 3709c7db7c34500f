// OAuth 2 client-credentials token, cached until shortly before its expires_in runs out.
import { z } from 'zod';
import { UpvestError } from '../errors.js';
import { statusError, type HttpExchange } from './http.js';

export interface TokenSettings {
  clientId: string;
  clientSecret: string;
  scopes: string;
  apiVersion: string;
  refreshMarginSeconds: number;
}

const tokenResponse = z.object({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
  token_type: z.string().optional(),
  scope: z.string().optional(),
});

export interface TokenProvider {
  /** A valid bearer token, fetched when there is none or it is about to expire. */
  get(): Promise<string>;
  /** Forget `token` (the server answered 401 to it); the next get() fetches a new one. */
  invalidate(token: string): void;
}

export function createTokenProvider(
  exchange: HttpExchange,
  settings: TokenSettings,
  now: () => number = Date.now,
  /** Called with every token the moment it is received, before it is used (secret redaction). */
  onToken?: (token: string) => void,
): TokenProvider {
  let cached: { token: string; refreshAt: number } | undefined;
  // Concurrent page fetches share one token request instead of each asking for its own.
  let inFlight: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    const body = Buffer.from(
      new URLSearchParams({
        client_id: settings.clientId,
        client_secret: settings.clientSecret,
        grant_type: 'client_credentials',
        scope: settings.scopes,
      }).toString(),
      'utf8',
    );
    const response = await exchange({
      method: 'POST',
      path: '/auth/token',
      headers: {
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
        'upvest-client-id': settings.clientId,
        'upvest-api-version': settings.apiVersion,
      },
      body,
    });
    if (response.status !== 200) {
      const error = statusError(response, 'POST /auth/token', now);
      if (error.code === 'UPVEST_UNAUTHORIZED' || error.code === 'UPVEST_BAD_REQUEST') {
        // Re-coded so it is never mistaken for an expired token and retried with the same secret.
        throw new UpvestError(
          'UPVEST_TOKEN_INVALID',
          `Upvest refused the client credentials (check UPVEST_CLIENT_ID, UPVEST_CLIENT_SECRET, UPVEST_SCOPES and the signing key): ${error.message}`,
          { status: error.status, requestId: error.requestId, problem: error.problem, cause: error },
        );
      }
      throw error;
    }
    let parsed: z.infer<typeof tokenResponse>;
    try {
      parsed = tokenResponse.parse(JSON.parse(response.body));
    } catch (cause) {
      throw new UpvestError('UPVEST_BAD_BODY', 'POST /auth/token: the answer is not a token response', {
        status: response.status,
        requestId: response.requestId,
        cause,
      });
    }
    onToken?.(parsed.access_token);
    const lifetimeMs = parsed.expires_in * 1000;
    // Never plan to use a token for less than half its life, whatever the margin says.
    const marginMs = Math.min(settings.refreshMarginSeconds * 1000, lifetimeMs / 2);
    cached = { token: parsed.access_token, refreshAt: now() + lifetimeMs - marginMs };
    return parsed.access_token;
  }

  return {
    async get() {
      if (cached && now() < cached.refreshAt) return cached.token;
      inFlight ??= fetchToken().finally(() => {
        inFlight = undefined;
      });
      return inFlight;
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined;
    },
  };
}
