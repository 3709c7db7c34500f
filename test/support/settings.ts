// Settings for tests that parse configuration without connecting to anything.
import type { Env } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';

/** Every required setting, with values that parse; the rest take their defaults. */
export const VALID_SETTINGS: Env = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/account_sync',
  UPVEST_CLIENT_ID: 'client',
  UPVEST_CLIENT_SECRET: 'secret',
  UPVEST_SIGNING_KEY_FILE: '/keys/upvest.pem',
  UPVEST_SIGNING_KEY_ID: 'key-id',
};

/** The problems of the ConfigError that `run` throws, as `KEY message`; fails if it throws none. */
export function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map((p) => `${p.key} ${p.message}`);
    throw error;
  }
  throw new Error('expected a ConfigError');
}
