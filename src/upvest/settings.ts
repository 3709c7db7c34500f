// What the Upvest client needs to be told. Declared here, by the client, so that it depends on
// nothing but its own settings; src/config builds one from the environment, tests by hand.

export interface UpvestSettings {
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
  retry: RetrySettings;
}

export interface RetrySettings {
  /** Attempts after the first one. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Upper bound of one request's attempts and waits, all together. */
  maxRetryTimeMs: number;
}
