// UPVEST_*: where Upvest is, who we are to it, and how patiently we ask. Builds the settings
// type the Upvest client declares for itself (src/upvest/settings.ts).
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { UpvestSettings } from '../upvest/settings.js';
import { optional, required, section, withDefault } from './setting.js';
import { nonBlank, positiveNumber, trueOrFalse, urlOf, wholeNumber } from './values.js';

const baseUrl = urlOf(['http:', 'https:'], 'must be an http(s) URL').transform((value) => value.replace(/\/+$/, ''));

export const upvest = section(
  {
    UPVEST_BASE_URL: withDefault(baseUrl, 'https://sandbox.upvest.co', 'Upvest API root; https unless the host is this machine'),
    UPVEST_CLIENT_ID: required(nonBlank, 'tenant client id, also sent as upvest-client-id'),
    UPVEST_CLIENT_SECRET: required(nonBlank, 'client secret of the client-credentials token'),
    UPVEST_SCOPES: withDefault(z.string().trim().min(1), 'accounts:read', 'space-separated scopes asked with the token'),
    UPVEST_SIGNING_KEY_FILE: required(nonBlank, 'PEM private key registered with Upvest'),
    UPVEST_SIGNING_KEY_PASSPHRASE: optional(z.string(), 'passphrase of an encrypted key file'),
    UPVEST_SIGNING_KEY_ID: required(nonBlank, 'the keyid Upvest issued for the registered public key'),
    UPVEST_API_VERSION: withDefault(
      z.string().trim().regex(/^\d+$/, { message: 'must be a major version number' }),
      '1',
      'sent as upvest-api-version',
    ),
    UPVEST_SIGNATURE_TTL_SECONDS: withDefault(wholeNumber(1, 300), '30', "each signature's window, expires - created"),
    UPVEST_TOKEN_REFRESH_MARGIN_SECONDS: withDefault(wholeNumber(0, 3600), '60', 'fetch a new token this long before the old one expires'),
    UPVEST_CONNECT_TIMEOUT_MS: withDefault(wholeNumber(100, 120_000), '5000', 'connecting timeout of one attempt'),
    UPVEST_REQUEST_TIMEOUT_MS: withDefault(wholeNumber(100, 600_000), '30000', 'whole-attempt timeout, body included'),
    UPVEST_MAX_RESPONSE_BYTES: withDefault(
      wholeNumber(64 * 1024, 1024 * 1024 * 1024),
      String(16 * 1024 * 1024),
      'largest response body read, after decompression',
    ),
    UPVEST_ALLOW_INSECURE_HTTP: withDefault(trueOrFalse, 'false', 'accept plain http to a host that is not this machine'),
    UPVEST_RETRIES: withDefault(wholeNumber(0, 100), '8', 'retries of one request after the first attempt'),
    UPVEST_RETRY_MIN_DELAY_MS: withDefault(wholeNumber(0, 600_000), '500', 'first backoff delay, doubling'),
    UPVEST_RETRY_MAX_DELAY_MS: withDefault(wholeNumber(0, 3_600_000), '30000', 'longest backoff delay'),
    UPVEST_RETRY_MAX_TIME_MS: withDefault(wholeNumber(0, 86_400_000), '300000', 'all attempts of one request end after this long'),
    UPVEST_MAX_REQUESTS_PER_SECOND: optional(positiveNumber, 'cap on request starts per second'),
  },
  (v): UpvestSettings => {
    const problems: Array<{ key: string; message: string }> = [];
    if (v.UPVEST_RETRY_MAX_DELAY_MS < v.UPVEST_RETRY_MIN_DELAY_MS) {
      problems.push({ key: 'UPVEST_RETRY_MAX_DELAY_MS', message: 'must not be below UPVEST_RETRY_MIN_DELAY_MS' });
    }
    const base = new URL(v.UPVEST_BASE_URL);
    const plainHttpToRemoteHost = base.protocol === 'http:' && !isLoopback(base.hostname);
    if (plainHttpToRemoteHost && !v.UPVEST_ALLOW_INSECURE_HTTP) {
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
      plainHttpToRemoteHost,
      retry: {
        retries: v.UPVEST_RETRIES,
        minDelayMs: v.UPVEST_RETRY_MIN_DELAY_MS,
        maxDelayMs: v.UPVEST_RETRY_MAX_DELAY_MS,
        maxRetryTimeMs: v.UPVEST_RETRY_MAX_TIME_MS,
      },
    };
  },
);

/** Whether a URL's hostname is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}
