// Typed errors with stable codes. Whether an error is worth another attempt is decided in
// one place (upvest/retry.ts for requests); everything else only reads `code` and `retryable`.

export type ErrorCode =
  | 'CONFIG_INVALID'
  | 'SIGNING_KEY_INVALID'
  | 'UPVEST_BAD_REQUEST'
  | 'UPVEST_UNAUTHORIZED'
  | 'UPVEST_FORBIDDEN'
  | 'UPVEST_NOT_FOUND'
  | 'UPVEST_NOT_ACCEPTABLE'
  | 'UPVEST_VERSION_RETIRED'
  | 'UPVEST_RATE_LIMITED'
  | 'UPVEST_SERVER_ERROR'
  | 'UPVEST_UNEXPECTED_STATUS'
  | 'UPVEST_NETWORK'
  | 'UPVEST_TIMEOUT'
  | 'UPVEST_BAD_BODY'
  | 'UPVEST_BAD_ENVELOPE'
  | 'UPVEST_RESPONSE_TOO_LARGE'
  | 'UPVEST_PAGE_TOO_LARGE'
  | 'UPVEST_TOKEN_INVALID'
  | 'DB_UNAVAILABLE'
  | 'DB_ERROR'
  | 'MIGRATION_FAILED'
  /** The database lacks migrations this version needs: `account-sync migrate` first. */
  | 'DB_NOT_MIGRATED'
  /** The database has migrations this release does not know: a newer release migrated it. */
  | 'DB_UNKNOWN_MIGRATIONS'
  | 'SYNC_INTERRUPTED'
  | 'SYNC_NOT_RESUMABLE'
  | 'SYNC_PAGE_LIMIT_EXCEEDED'
  | 'SYNC_ABANDONED'
  /** The run could not prove that it listed every account Upvest lists: it ends `incomplete`. */
  | 'SYNC_WALK_UNPROVEN'
  | 'REDIS_UNAVAILABLE'
  | 'READONLY_ROLE_REFUSED'
  | 'WEBHOOK_KEYS_UNAVAILABLE'
  | 'WEBHOOK_SIGNATURE_INVALID'
  | 'WEBHOOK_BODY_TOO_LARGE'
  | 'WEBHOOK_SUBSCRIPTION_NOT_ENABLED'
  /** Anything that is not one of ours: a bug, or a library's error we did not expect. */
  | 'UNKNOWN';

export class AccountSyncError extends Error {
  readonly code: ErrorCode;
  override readonly name: string = 'AccountSyncError';

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export class ConfigError extends AccountSyncError {
  override readonly name = 'ConfigError';
  /** Every bad setting, by its environment variable name. */
  readonly problems: ReadonlyArray<{ key: string; message: string }>;

  constructor(problems: ReadonlyArray<{ key: string; message: string }>) {
    super(
      'CONFIG_INVALID',
      `Invalid configuration: ${problems.map((p) => `${p.key} ${p.message}`).join('; ')}`,
    );
    this.problems = problems;
  }
}

export interface ProblemDetails {
  type?: string;
  title?: string;
  detail?: string;
  details?: string;
  instance?: string;
  request_id?: string;
}

/** A failed exchange with Upvest: an HTTP answer, or none at all. */
export class UpvestError extends AccountSyncError {
  override readonly name = 'UpvestError';
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly problem: ProblemDetails | undefined;
  /** Milliseconds the server asked us to wait (Retry-After), when it said so. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    details: {
      status?: number;
      requestId?: string;
      problem?: ProblemDetails;
      retryAfterMs?: number;
      cause?: unknown;
    } = {},
  ) {
    super(code, message, { cause: details.cause });
    this.status = details.status;
    this.requestId = details.requestId;
    this.problem = details.problem;
    this.retryAfterMs = details.retryAfterMs;
  }
}

export function errorCodeOf(error: unknown): ErrorCode {
  return error instanceof AccountSyncError ? error.code : 'UNKNOWN';
}

export function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The message on one line, without the invocation preamble Prisma puts before the cause. */
export function oneLineMessage(error: unknown): string {
  return errorMessageOf(error)
    .replace(/Invalid `[^`]*` invocation:/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}
