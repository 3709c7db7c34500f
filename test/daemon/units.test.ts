// The daemon's pieces without processes: its settings, the mapping of run outcomes onto job
// outcomes, and the redaction of secrets from logs and stored error text.
import { Writable } from 'node:stream';
import got from 'got';
import { describe, expect, it } from 'vitest';
import { loadCommandConfig, type Env } from '../../src/config/index.js';
import { UpvestError, type ErrorCode } from '../../src/errors.js';
import { createLogger, redactText } from '../../src/logger.js';
import { judgeOutcome, UNRECOVERABLE_CODES, type JobOutcome } from '../../src/queue/job-outcome.js';
import type { RunSummary } from '../../src/sync/run.js';
import { problemsOf, VALID_SETTINGS as required } from '../support/settings.js';

const loadWorkerCommandConfig = (env: Env) => loadCommandConfig('worker', env);
const loadTriggerCommandConfig = (env: Env) => loadCommandConfig('trigger', env);

describe('worker settings', () => {
  it('have the documented defaults', () => {
    const config = loadWorkerCommandConfig(required);
    expect(config.redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(config.schedule).toEqual({ intervalMs: 900_000, cron: null });
    expect(config.queue).toEqual({
      prefix: 'account-sync',
      attempts: 3,
      backoffMs: 30_000,
      lockDurationMs: 30_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 3,
      rateLimitPauseMs: 60_000,
      scheduleCheckMs: 30_000,
    });
    expect(config.sync).toMatchObject({ resumeWithinMs: 21_600_000, lockWaitMs: 10_000 });
    expect(config.health).toEqual({ host: '0.0.0.0', port: 9464, loopbackOnly: false });
    expect(config.shutdown).toEqual({ timeoutMs: 30_000 });
  });

  it('take a cron pattern in a time zone, whose longest gap becomes the interval unless one is set', () => {
    expect(loadWorkerCommandConfig({ ...required, SYNC_CRON: '0 */6 * * *', SYNC_TZ: 'Europe/Berlin' }).schedule).toEqual({
      intervalMs: 6 * 3_600_000,
      cron: { pattern: '0 */6 * * *', tz: 'Europe/Berlin' },
    });
    expect(loadWorkerCommandConfig({ ...required, SYNC_CRON: '0 3 * * *', SYNC_INTERVAL_MS: '3600000' }).schedule).toEqual({
      intervalMs: 3_600_000,
      cron: { pattern: '0 3 * * *', tz: 'UTC' },
    });
  });

  it('name every bad key in one error', () => {
    expect(
      problemsOf(() =>
        loadWorkerCommandConfig({
          ...required,
          REDIS_URL: 'http://redis',
          SYNC_CRON: 'every day',
          SYNC_TZ: 'Mars/Olympus',
          QUEUE_PREFIX: 'has spaces',
          QUEUE_JOB_ATTEMPTS: '0',
          HEALTH_PORT: '70000',
          SHUTDOWN_TIMEOUT_MS: 'soon',
        }),
      ),
    ).toEqual([
      'SYNC_TZ must be an IANA time zone such as Europe/Berlin',
      'REDIS_URL must be a redis:// or rediss:// URL',
      'QUEUE_PREFIX must be letters, digits, "_", ".", ":" or "-"',
      'QUEUE_JOB_ATTEMPTS must be at least 1',
      'HEALTH_PORT must be at most 65535',
      'SHUTDOWN_TIMEOUT_MS must be a whole number',
    ]);
    expect(problemsOf(() => loadWorkerCommandConfig({ ...required, SYNC_CRON: 'every day' }))[0]).toMatch(/^SYNC_CRON is not a cron pattern/);
    expect(problemsOf(() => loadTriggerCommandConfig({ REDIS_URL: 'nope' }))).toEqual(['REDIS_URL must be a redis:// or rediss:// URL']);
  });
});

function summary(overrides: Partial<RunSummary>): RunSummary {
  return {
    runId: 7n,
    status: 'succeeded',
    mode: 'full',
    startedAt: new Date(0),
    finishedAt: new Date(1000),
    durationMs: 1000,
    totalCount: 10,
    pages: 1,
    accountsSeen: 10,
    inserted: 10,
    updated: 0,
    unchanged: 0,
    statusChanges: 10,
    deletions: 0,
    rejected: 0,
    retries: 0,
    walkComplete: true,
    walkConsistent: true,
    inconsistencies: [],
    errorCode: null,
    error: null,
    ...overrides,
  } as RunSummary;
}

const ran = (s: Partial<RunSummary>, lockLost = false): JobOutcome => ({ kind: 'ran', summary: summary(s), resumed: null, closed: [], lockLost });

describe('what a run means for its job', () => {
  const judge = (outcome: JobOutcome) => judgeOutcome(outcome, { rateLimitPauseMs: 60_000 });

  it('completes on success, and when another process holds the run lock', () => {
    expect(judge(ran({}))).toMatchObject({ kind: 'complete', result: { runId: '7', status: 'succeeded', resumed: false } });
    expect(judge({ kind: 'locked', holder: null })).toEqual({
      kind: 'complete',
      result: { skipped: 'another sync is running: another process' },
      note: 'another sync is running: another process',
    });
  });

  it('fails at once on settings and credentials, pauses the queue on a 429 storm, retries the rest', () => {
    // Every code, with what the table of docs/operations.md promises for it: settings and credentials fail
    // the job at once, everything else is retried. A Record, so a new code must be placed here.
    const expected: Record<ErrorCode, 'fail' | 'retry'> = {
      CONFIG_INVALID: 'fail',
      SIGNING_KEY_INVALID: 'fail',
      UPVEST_TOKEN_INVALID: 'fail',
      UPVEST_UNAUTHORIZED: 'fail',
      UPVEST_FORBIDDEN: 'fail',
      UPVEST_BAD_REQUEST: 'fail',
      UPVEST_NOT_ACCEPTABLE: 'fail',
      UPVEST_VERSION_RETIRED: 'fail',
      UPVEST_NOT_FOUND: 'retry',
      UPVEST_RATE_LIMITED: 'retry',
      UPVEST_SERVER_ERROR: 'retry',
      UPVEST_UNEXPECTED_STATUS: 'retry',
      UPVEST_NETWORK: 'retry',
      UPVEST_TIMEOUT: 'retry',
      UPVEST_BAD_BODY: 'retry',
      UPVEST_BAD_ENVELOPE: 'retry',
      UPVEST_RESPONSE_TOO_LARGE: 'retry',
      UPVEST_PAGE_TOO_LARGE: 'retry',
      DB_UNAVAILABLE: 'retry',
      DB_ERROR: 'retry',
      MIGRATION_FAILED: 'retry',
      DB_NOT_MIGRATED: 'retry',
      DB_UNKNOWN_MIGRATIONS: 'retry',
      SYNC_INTERRUPTED: 'retry',
      SYNC_NOT_RESUMABLE: 'retry',
      SYNC_PAGE_LIMIT_EXCEEDED: 'retry',
      SYNC_ABANDONED: 'retry',
      SYNC_WALK_UNPROVEN: 'retry',
      REDIS_UNAVAILABLE: 'retry',
      READONLY_ROLE_REFUSED: 'retry',
      WEBHOOK_KEYS_UNAVAILABLE: 'retry',
      WEBHOOK_SIGNATURE_INVALID: 'retry',
      WEBHOOK_BODY_TOO_LARGE: 'retry',
      WEBHOOK_SUBSCRIPTION_NOT_ENABLED: 'retry',
      UNKNOWN: 'retry',
    };
    const verdicts = Object.fromEntries(
      Object.keys(expected).map((code) => [code, judge(ran({ status: 'failed', errorCode: code as ErrorCode, error: 'no' })).kind]),
    );
    expect(verdicts).toEqual(expected);
    expect([...UNRECOVERABLE_CODES].sort()).toEqual(Object.keys(expected).filter((code) => expected[code as ErrorCode] === 'fail').sort());
    expect(judge(ran({ status: 'failed', errorCode: 'UPVEST_TOKEN_INVALID', error: 'refused' }))).toMatchObject({
      kind: 'fail',
      error: { message: 'UPVEST_TOKEN_INVALID: refused (sync run 7)' },
    });
    expect(judge(ran({ status: 'interrupted', errorCode: 'UPVEST_RATE_LIMITED', error: '429' }))).toEqual({
      kind: 'pause-queue',
      ms: 60_000,
      reason: 'UPVEST_RATE_LIMITED: 429 (sync run 7)',
    });
    for (const code of ['UPVEST_SERVER_ERROR', 'UPVEST_NETWORK', 'UPVEST_TIMEOUT', 'UPVEST_NOT_FOUND', 'UNKNOWN'] as const) {
      expect(judge(ran({ status: 'failed', errorCode: code, error: 'x' })).kind).toBe('retry');
    }
    expect(judge({ kind: 'threw', error: new Error('connect ECONNREFUSED') })).toMatchObject({
      kind: 'retry',
      error: { message: 'UNKNOWN: connect ECONNREFUSED' },
    });
  });

  it('puts an interrupted run back in the queue, whatever stopped it', () => {
    expect(judge(ran({ status: 'interrupted', error: 'interrupted: shutting down on SIGTERM' }))).toEqual({
      kind: 'requeue',
      reason: 'interrupted: shutting down on SIGTERM',
    });
    expect(judge(ran({ status: 'interrupted', error: 'interrupted: x' }, true))).toEqual({ kind: 'requeue', reason: 'the run lock was lost' });
    // Stopped while still waiting for the run lock: nothing ran, nothing failed.
    expect(judge({ kind: 'threw', error: new Error('shutting down on SIGTERM'), stopped: true })).toEqual({
      kind: 'requeue',
      reason: 'stopped before the run began: shutting down on SIGTERM',
    });
  });
});

describe('secrets', () => {
  const secret = 'client-secret-value-1234';
  const passphrase = 'pass/phrase+with=signs';

  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    return { lines, logger: createLogger({ level: 'info' }, stream, { secrets: [secret, passphrase] }) };
  }

  it('never reach the logs, also not through got errors hung on ours', async () => {
    const { lines, logger } = capture();
    let gotError: unknown;
    try {
      await got('http://127.0.0.1:1/auth/token', {
        method: 'POST',
        headers: { authorization: 'Bearer eyJhbGciOi.secret-token', signature: 'sig1=:c2lnbmF0dXJlLWJ5dGVz:' },
        body: `grant_type=client_credentials&client_secret=${secret}`,
        retry: { limit: 0 },
      });
    } catch (error) {
      gotError = error;
    }
    const wrapped = new UpvestError('UPVEST_NETWORK', 'POST /auth/token: ECONNREFUSED', { cause: gotError });
    logger.error({ err: gotError }, 'raw got error');
    logger.error({ err: wrapped, error: gotError }, 'wrapped');
    logger.warn({ config: { clientSecret: secret, signingKeyPassphrase: passphrase } }, `with ${passphrase} in the message`);
    logger.info('-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----');
    const all = lines.join('');
    expect(lines).toHaveLength(4);
    for (const leak of [secret, passphrase, 'eyJhbGciOi', 'secret-token', 'c2lnbmF0dXJlLWJ5dGVz', 'MIGHAgEAMBMGByqGSM49']) {
      expect(all).not.toContain(leak);
    }
    expect(JSON.parse(lines[0]!).err.code).toBe('ECONNREFUSED');
  });

  it('are replaced in text that is stored, such as a run’s error', () => {
    expect(redactText('GET /accounts: HTTP 400 Authorization: Bearer abc.def-ghi was refused')).toBe(
      'GET /accounts: HTTP 400 Authorization: Bearer [redacted] was refused',
    );
    expect(redactText('body client_secret=hunter2&scope=x, {"access_token":"tok"}')).toBe(
      'body client_secret=[redacted]&scope=x, {"access_token":"[redacted]"}',
    );
    expect(redactText('signature: sig1=:AAAA+/BB==:', [])).toBe('signature: sig1=:[redacted]:');
    expect(redactText(`echoed ${secret}`, [secret])).toBe('echoed [redacted]');
  });
});
