import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isInteractive, loadCommandConfig, loadSections, runOptionsOf } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { problemsOf, VALID_SETTINGS as valid } from '../support/settings.js';

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadCommandConfig('sync', valid);
    expect(config.upvest.baseUrl).toBe('https://sandbox.upvest.co');
    expect(config.upvest.scopes).toBe('accounts:read');
    expect(config.upvest.apiVersion).toBe('1');
    expect(config.upvest.maxRequestsPerSecond).toBeUndefined();
    expect(config.upvest.signingKeyPassphrase).toBeUndefined();
    expect(config.sync).toEqual({
      pageSize: 1000,
      pageOverlap: 10,
      maxHealRequests: 1000,
      concurrency: 4,
      maxPages: 100_000,
      maxDeletionChecks: 1000,
      incrementalLagMs: 60_000,
      fullIntervalMs: 86_400_000,
      skipUnchangedPages: true,
      bulkLoad: true,
      deferIndexesFrom: 200_000,
      resumeWithinMs: 21_600_000,
      lockWaitMs: 10_000,
      extraLimits: { bytes: 16_384, depth: 8 },
    });
    expect(config.upvest.retry).toEqual({ retries: 8, minDelayMs: 500, maxDelayMs: 30_000, maxRetryTimeMs: 300_000 });
    expect(config.log.level).toBe('info');
  });

  it('names every missing setting in one error, and nothing else', () => {
    expect(problemsOf(() => loadCommandConfig('sync', {}))).toEqual([
      'DATABASE_URL is required',
      'UPVEST_CLIENT_ID is required',
      'UPVEST_CLIENT_SECRET is required',
      'UPVEST_SIGNING_KEY_FILE is required',
      'UPVEST_SIGNING_KEY_ID is required',
    ]);
  });

  it('names every malformed setting with what is wrong with it', () => {
    let error: ConfigError | undefined;
    try {
      loadCommandConfig('sync', {
        ...valid,
        DATABASE_URL: 'mysql://x',
        UPVEST_BASE_URL: 'not a url',
        SYNC_PAGE_SIZE: 'a thousand',
        SYNC_CONCURRENCY: '0',
        LOG_LEVEL: 'loud',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.code).toBe('CONFIG_INVALID');
    expect(error?.problems.map((p) => p.key)).toEqual(['DATABASE_URL', 'UPVEST_BASE_URL', 'SYNC_PAGE_SIZE', 'SYNC_CONCURRENCY', 'LOG_LEVEL']);
    expect(error?.message).toContain('SYNC_PAGE_SIZE must be a whole number');
    expect(error?.message).toContain('SYNC_CONCURRENCY must be at least 1');
    expect(error?.message).toContain('DATABASE_URL must be a postgresql:// URL');
    expect(error?.message).not.toContain('secret');
  });

  it('treats empty and blank values as unset and strips a trailing slash from the base URL', () => {
    const config = loadCommandConfig('sync', { ...valid, UPVEST_BASE_URL: 'http://127.0.0.1:9000/', SYNC_PAGE_SIZE: '' });
    expect(config.upvest.baseUrl).toBe('http://127.0.0.1:9000');
    expect(config.sync.pageSize).toBe(1000);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, UPVEST_CLIENT_ID: '   ' }))).toEqual(['UPVEST_CLIENT_ID is required']);
  });

  it('asks the migrate command only for the database', () => {
    expect(loadCommandConfig('migrate', { DATABASE_URL: valid.DATABASE_URL }).database.url).toBe(valid.DATABASE_URL);
    expect(problemsOf(() => loadCommandConfig('migrate', {}))).toEqual(['DATABASE_URL is required']);
  });

  it('keeps the retry delays in order and plain http to this machine only, unless allowed', () => {
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, UPVEST_RETRY_MIN_DELAY_MS: '5000', UPVEST_RETRY_MAX_DELAY_MS: '1000' }))).toEqual([
      'UPVEST_RETRY_MAX_DELAY_MS must not be below UPVEST_RETRY_MIN_DELAY_MS',
    ]);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, UPVEST_BASE_URL: 'http://upvest.internal' }))).toEqual([
      'UPVEST_BASE_URL must be https: plain http would send the client secret and access tokens in clear text ' +
        '(http is accepted for loopback hosts, or anywhere with UPVEST_ALLOW_INSECURE_HTTP=true)',
    ]);
    const allowed = loadCommandConfig('sync', { ...valid, UPVEST_BASE_URL: 'http://upvest.internal', UPVEST_ALLOW_INSECURE_HTTP: 'true' });
    expect(allowed.upvest.plainHttpToRemoteHost).toBe(true);
    expect(loadCommandConfig('sync', { ...valid, UPVEST_BASE_URL: 'http://[::1]:8080' }).upvest.plainHttpToRemoteHost).toBe(false);
  });

  it('accepts ?schema= in DATABASE_URL, but not an empty, repeated or overlong one', () => {
    const url = 'postgresql://postgres@127.0.0.1:5432/account_sync?schema=mirror';
    expect(loadCommandConfig('migrate', { DATABASE_URL: url }).database.url).toBe(url);
    expect(problemsOf(() => loadCommandConfig('migrate', { DATABASE_URL: `${valid.DATABASE_URL}?schema=` }))).toEqual([
      'DATABASE_URL must not set an empty ?schema=',
    ]);
    expect(problemsOf(() => loadCommandConfig('migrate', { DATABASE_URL: `${url}&schema=other` }))).toEqual([
      'DATABASE_URL must set ?schema= at most once',
    ]);
    expect(problemsOf(() => loadCommandConfig('migrate', { DATABASE_URL: `${valid.DATABASE_URL}?schema=${'m'.repeat(64)}` }))).toEqual([
      'DATABASE_URL must name a ?schema= of at most 63 bytes',
    ]);
  });
});

describe('page skipping', () => {
  it('is on by default and can be turned off; anything else is named', () => {
    expect(loadCommandConfig('sync', valid).sync.skipUnchangedPages).toBe(true);
    expect(loadCommandConfig('sync', { ...valid, SYNC_SKIP_UNCHANGED_PAGES: 'false' }).sync.skipUnchangedPages).toBe(false);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, SYNC_SKIP_UNCHANGED_PAGES: 'no' }))).toEqual([
      'SYNC_SKIP_UNCHANGED_PAGES must be true or false',
    ]);
  });
});

describe('bulk loading', () => {
  it('is on by default and can be turned off; anything else is named', () => {
    expect(loadCommandConfig('sync', valid).sync.bulkLoad).toBe(true);
    expect(runOptionsOf(loadCommandConfig('worker', { ...valid, SYNC_BULK_LOAD: 'false' })).bulkLoad).toBe(false);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, SYNC_BULK_LOAD: 'yes' }))).toEqual(['SYNC_BULK_LOAD must be true or false']);
  });

  it('defers the indexes from a size the user may set, 0 for always', () => {
    expect(runOptionsOf(loadCommandConfig('worker', { ...valid, SYNC_DEFER_INDEXES_FROM: '0' })).deferIndexesFrom).toBe(0);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, SYNC_DEFER_INDEXES_FROM: 'many' }))).toHaveLength(1);
    expect(problemsOf(() => loadCommandConfig('sync', { ...valid, SYNC_DEFER_INDEXES_FROM: 'many' }))[0]).toMatch(/^SYNC_DEFER_INDEXES_FROM /);
  });

  it('bounds the fields Upvest adds by settings, named when wrong (issue 25)', () => {
    expect(runOptionsOf(loadCommandConfig('worker', valid)).extraLimits).toEqual({ bytes: 16_384, depth: 8 });
    expect(runOptionsOf(loadCommandConfig('sync', { ...valid, SYNC_EXTRA_MAX_BYTES: '1000', SYNC_EXTRA_MAX_DEPTH: '3' })).extraLimits).toEqual({ bytes: 1000, depth: 3 });
    const problems = problemsOf(() => loadCommandConfig('sync', { ...valid, SYNC_EXTRA_MAX_BYTES: 'lots', SYNC_EXTRA_MAX_DEPTH: '0' }));
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^SYNC_EXTRA_MAX_BYTES /);
    expect(problems[1]).toMatch(/^SYNC_EXTRA_MAX_DEPTH /);
  });
});

describe('defaults and overrides of a command (the demo)', () => {
  const options = { defaults: { DATABASE_URL: 'postgresql://127.0.0.1/demo', LOG_LEVEL: 'warn' }, overrides: { UPVEST_CLIENT_ID: 'simulator' } };

  it('fill in what the environment leaves unset or empty, and win over what it sets', () => {
    const config = loadCommandConfig('demo', { ...valid, DATABASE_URL: '', UPVEST_CLIENT_ID: 'mine' }, options);
    expect(config.database.url).toBe('postgresql://127.0.0.1/demo');
    expect(config.log.level).toBe('warn');
    expect(config.upvest.clientId).toBe('simulator');
  });

  it('leave what the environment sets to it', () => {
    const config = loadCommandConfig('demo', { ...valid, LOG_LEVEL: 'debug' }, options);
    expect(config.database.url).toBe(valid.DATABASE_URL);
    expect(config.log.level).toBe('debug');
  });
});

describe('the options of a run', () => {
  it('are the same for `sync` and the daemon, from the SYNC_* settings', () => {
    const env = { ...valid, SYNC_PAGE_SIZE: '500', SYNC_PAGE_OVERLAP: '3', SYNC_RESUME_WITHIN_MS: '60000', SYNC_LOCK_WAIT_MS: '5' };
    const options = runOptionsOf(loadCommandConfig('sync', env));
    expect(options).toEqual({
      pageSize: 500,
      pageOverlap: 3,
      maxHealRequests: 1000,
      concurrency: 4,
      maxPages: 100_000,
      maxDeletionChecks: 1000,
      incrementalLagMs: 60_000,
      skipUnchangedPages: true,
      bulkLoad: true,
      deferIndexesFrom: 200_000,
      fullIntervalMs: 86_400_000,
      resumeWithinMs: 60_000,
      extraLimits: { bytes: 16_384, depth: 8 },
    });
    expect(runOptionsOf(loadCommandConfig('worker', env))).toEqual(options);
  });
});

describe('the webhooks section', () => {
  it('applies its defaults, for `receiver` and for `webhooks`', () => {
    const { webhooks } = loadCommandConfig('receiver', valid);
    expect(webhooks).toEqual({
      host: '0.0.0.0',
      port: 9465,
      path: '/webhooks/upvest',
      maxBodyBytes: 2_097_152,
      headersTimeoutMs: 5_000,
      requestTimeoutMs: 7_000,
      maxConnections: 256,
      signatureMaxAgeSeconds: 604_800,
      signatureClockSkewSeconds: 60,
      signatureEnforceExpires: false,
      keysMinRefetchIntervalMs: 1_000,
      keysUnknownFetchesPerMinute: 4,
      keysRefreshMs: 60_000,
      keysWithdrawnGraceMs: 300_000,
      subscriptionsMinRefetchIntervalMs: 2_000,
      allowedSources: [],
      trustForwardedFor: false,
      tokenScopes: 'webhooks:read',
      testMethod: 'POST',
      apply: true,
      applyBatchSize: 200,
      applySweepMs: 5_000,
      healthHost: '127.0.0.1',
      healthLoopbackOnly: true,
      healthPort: 9_466,
    });
    const { DATABASE_URL: _notNeeded, ...withoutDatabase } = valid;
    expect(loadCommandConfig('webhooks', withoutDatabase).webhooks).toEqual(webhooks);
  });

  it('reads sources, scopes and the apply settings, and names every bad one', () => {
    const { webhooks } = loadSections(
      {
        WEBHOOK_ALLOWED_SOURCES: '192.0.2.1, 198.51.100.0/24 2001:db8::/32',
        WEBHOOK_TOKEN_SCOPES: ' webhooks:read   webhooks:admin ',
        WEBHOOK_APPLY: 'false',
        WEBHOOK_APPLY_BATCH_SIZE: '10000',
        WEBHOOK_APPLY_SWEEP_MS: '100',
        WEBHOOK_RECEIVER_HEALTH_PORT: '0',
      },
      ['webhooks'],
    );
    expect(webhooks).toMatchObject({
      allowedSources: ['192.0.2.1', '198.51.100.0/24', '2001:db8::/32'],
      tokenScopes: 'webhooks:read webhooks:admin',
      apply: false,
      applyBatchSize: 10_000,
      applySweepMs: 100,
      healthPort: 0,
    });
    expect(
      problemsOf(() =>
        loadSections(
          {
            WEBHOOK_RECEIVER_PATH: 'webhooks',
            WEBHOOK_ALLOWED_SOURCES: '192.0.2.0/33',
            WEBHOOK_TEST_METHOD: 'PUT',
            WEBHOOK_APPLY: 'yes',
            WEBHOOK_APPLY_BATCH_SIZE: '0',
            WEBHOOK_APPLY_SWEEP_MS: '3600001',
            WEBHOOK_RECEIVER_HEALTH_PORT: '65536',
          },
          ['webhooks'],
        ),
      ),
    ).toEqual([
      'WEBHOOK_RECEIVER_PATH must be a path such as /webhooks/upvest',
      'WEBHOOK_ALLOWED_SOURCES must list IP addresses or CIDR ranges, separated by commas',
      'WEBHOOK_TEST_METHOD must be POST or GET',
      'WEBHOOK_APPLY must be true or false',
      'WEBHOOK_APPLY_BATCH_SIZE must be at least 1',
      'WEBHOOK_APPLY_SWEEP_MS must be at most 3600000',
      'WEBHOOK_RECEIVER_HEALTH_PORT must be at most 65535',
    ]);
    expect(problemsOf(() => loadSections({ WEBHOOK_HEADERS_TIMEOUT_MS: '9000', WEBHOOK_REQUEST_TIMEOUT_MS: '8000' }, ['webhooks']))).toEqual([
      'WEBHOOK_HEADERS_TIMEOUT_MS must not be above WEBHOOK_REQUEST_TIMEOUT_MS',
    ]);
  });
});

describe('the health ports', () => {
  it('know whether they listen on loopback only, and take no credentials unless set', () => {
    expect(loadSections({}, ['health', 'healthAuth'])).toEqual({
      health: { host: '0.0.0.0', port: 9464, loopbackOnly: false },
      healthAuth: { token: undefined, user: undefined, password: undefined },
    });
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(loadSections({ HEALTH_HOST: host }, ['health']).health.loopbackOnly).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.0.2.2', 'worker.internal']) expect(loadSections({ HEALTH_HOST: host }, ['health']).health.loopbackOnly).toBe(false);
    expect(loadSections({ WEBHOOK_RECEIVER_HEALTH_HOST: '0.0.0.0' }, ['webhooks']).webhooks).toMatchObject({ healthHost: '0.0.0.0', healthLoopbackOnly: false });
  });

  it('read a token and a user with a password, from files or the environment, and name every bad combination', () => {
    expect(loadSections({ HEALTH_AUTH_TOKEN_FILE: '/run/secrets/token', HEALTH_AUTH_USER: 'viewer', HEALTH_AUTH_PASSWORD: 'long enough' }, ['healthAuth'])).toEqual({
      healthAuth: { token: { file: '/run/secrets/token', setting: 'HEALTH_AUTH_TOKEN_FILE' }, user: 'viewer', password: { value: 'long enough' } },
    });
    expect(
      problemsOf(() =>
        loadSections({ HEALTH_AUTH_TOKEN: 'short', HEALTH_AUTH_TOKEN_FILE: '/run/secrets/token', HEALTH_AUTH_USER: 'a:b' }, ['healthAuth']),
      ),
    ).toEqual([
      'HEALTH_AUTH_TOKEN must not be set together with HEALTH_AUTH_TOKEN_FILE',
      'HEALTH_AUTH_USER needs HEALTH_AUTH_PASSWORD_FILE or HEALTH_AUTH_PASSWORD',
      'HEALTH_AUTH_USER must not contain ":"',
    ]);
    expect(problemsOf(() => loadSections({ HEALTH_AUTH_TOKEN: 'fifteen chars..', HEALTH_AUTH_PASSWORD_FILE: '/p' }, ['healthAuth']))).toEqual([
      'HEALTH_AUTH_TOKEN must be at least 16 characters long',
      'HEALTH_AUTH_PASSWORD_FILE needs HEALTH_AUTH_USER',
    ]);
  });
});

describe('single sections', () => {
  it('can be loaded alone, with every bad key of them named', () => {
    expect(loadSections({}, ['redis', 'queue']).redis).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(problemsOf(() => loadSections({ SYNC_INTERVAL_MS: '10', SYNC_TZ: 'Nowhere' }, ['schedule']))).toEqual([
      'SYNC_INTERVAL_MS must be at least 1000',
      'SYNC_TZ must be an IANA time zone such as Europe/Berlin',
    ]);
  });
});

describe('the runtime section', () => {
  it('sets the memory-saving V8 flags unless told otherwise, and names a value that is not flags', () => {
    expect(loadSections({}, ['runtime']).runtime).toEqual({ v8Flags: ['--liftoff-only', '--heap-growing-percent=20'] });
    expect(loadSections({ ACCOUNT_SYNC_V8_FLAGS: 'none' }, ['runtime']).runtime).toEqual({ v8Flags: [] });
    expect(loadSections({ ACCOUNT_SYNC_V8_FLAGS: ' --heap-growing-percent=50   --optimize-for-size ' }, ['runtime']).runtime).toEqual({
      v8Flags: ['--heap-growing-percent=50', '--optimize-for-size'],
    });
    expect(problemsOf(() => loadSections({ ACCOUNT_SYNC_V8_FLAGS: 'optimize-for-size' }, ['runtime']))).toEqual([
      'ACCOUNT_SYNC_V8_FLAGS must be V8 flags such as --optimize-for-size',
    ]);
  });
});

describe('the progress display', () => {
  const terminal = Object.assign(new Writable({ write: (_chunk, _encoding, done) => done() }), { isTTY: true });

  it('is shown on a terminal, but not in CI nor into a pipe', () => {
    expect(isInteractive(terminal, {})).toBe(true);
    expect(isInteractive(terminal, { CI: 'true' })).toBe(false);
    expect(isInteractive(new Writable(), {})).toBe(false);
  });
});
