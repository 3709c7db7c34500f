import { describe, expect, it } from 'vitest';
import { loadDatabaseCommandConfig, loadSyncCommandConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const valid = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/account_sync',
  UPVEST_CLIENT_ID: 'client',
  UPVEST_CLIENT_SECRET: 'secret',
  UPVEST_SIGNING_KEY_FILE: '/keys/upvest.pem',
  UPVEST_SIGNING_KEY_ID: 'key-id',
};

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.key} ${p.message}`);
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadSyncCommandConfig(valid);
    expect(config.upvest.baseUrl).toBe('https://sandbox.upvest.co');
    expect(config.upvest.scopes).toBe('accounts:read');
    expect(config.upvest.apiVersion).toBe('1');
    expect(config.sync).toEqual({
      pageSize: 1000,
      concurrency: 4,
      maxPages: 100_000,
      incrementalLagMs: 60_000,
      fullIntervalMs: 86_400_000,
      skipUnchangedPages: true,
    });
    expect(config.upvest.retry).toEqual({ retries: 8, minDelayMs: 500, maxDelayMs: 30_000, maxRetryTimeMs: 300_000 });
    expect(config.log.level).toBe('info');
  });

  it('names every missing setting in one error, and nothing else', () => {
    expect(problemsOf(() => loadSyncCommandConfig({}))).toEqual([
      'DATABASE_URL is required',
      'UPVEST_CLIENT_ID is required',
      'UPVEST_CLIENT_SECRET is required',
      'UPVEST_SIGNING_KEY_FILE is required',
      'UPVEST_SIGNING_KEY_ID is required',
    ]);
  });

  it('names every malformed setting with what is wrong with it', () => {
    const error = (() => {
      try {
        loadSyncCommandConfig({
          ...valid,
          DATABASE_URL: 'mysql://x',
          UPVEST_BASE_URL: 'not a url',
          SYNC_PAGE_SIZE: 'a thousand',
          SYNC_CONCURRENCY: '0',
          LOG_LEVEL: 'loud',
        });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.problems.map((p) => p.key)).toEqual([
      'DATABASE_URL',
      'UPVEST_BASE_URL',
      'SYNC_PAGE_SIZE',
      'SYNC_CONCURRENCY',
      'LOG_LEVEL',
    ]);
    expect(error.message).toContain('SYNC_PAGE_SIZE must be a whole number');
    expect(error.message).toContain('SYNC_CONCURRENCY must be at least 1');
    expect(error.message).toContain('DATABASE_URL must be a postgresql:// URL');
    expect(error.message).not.toContain('secret');
  });

  it('treats empty values as unset and strips a trailing slash from the base URL', () => {
    const config = loadSyncCommandConfig({ ...valid, UPVEST_BASE_URL: 'http://127.0.0.1:9000/', SYNC_PAGE_SIZE: '' });
    expect(config.upvest.baseUrl).toBe('http://127.0.0.1:9000');
    expect(config.sync.pageSize).toBe(1000);
  });

  it('asks the migrate command only for the database', () => {
    expect(loadDatabaseCommandConfig({ DATABASE_URL: valid.DATABASE_URL }).database.url).toBe(valid.DATABASE_URL);
    expect(problemsOf(() => loadDatabaseCommandConfig({}))).toEqual(['DATABASE_URL is required']);
  });
});

describe('page skipping', () => {
  it('is on by default and can be turned off; anything else is named', () => {
    expect(loadSyncCommandConfig(valid).sync.skipUnchangedPages).toBe(true);
    expect(loadSyncCommandConfig({ ...valid, SYNC_SKIP_UNCHANGED_PAGES: 'false' }).sync.skipUnchangedPages).toBe(false);
    expect(problemsOf(() => loadSyncCommandConfig({ ...valid, SYNC_SKIP_UNCHANGED_PAGES: 'no' }))).toEqual([
      'SYNC_SKIP_UNCHANGED_PAGES must be true or false',
    ]);
  });
});
