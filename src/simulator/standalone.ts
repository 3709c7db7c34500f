// The simulator as a stand-in for a real Upvest tenant: a fresh P-521 key pair whose private
// half is stored encrypted, the way Upvest's setup guide has tenants keep it, and the
// environment that points account-sync at it.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import { startSimulator, type Simulator } from './index.js';

export interface StandaloneOptions {
  accounts: number;
  /** Accounts shaped like a real tenant's (see Dataset). */
  tenant?: boolean;
  port?: number;
  seed?: number;
  host?: string;
  /** Where the key file goes; default a fresh directory under os.tmpdir(). */
  keyDir?: string;
  logger?: Logger;
  /** One second of webhook delays and retry waits, in ms (default 1000). */
  webhookTimeUnitMs?: number;
  /** Accept webhook subscriptions to plain http URLs on any host. */
  webhookHttpUrls?: boolean;
}

export interface StandaloneSimulator {
  simulator: Simulator;
  /** UPVEST_* settings a client needs to talk to this simulator. */
  env: Record<string, string>;
  keyFile: string;
  /** Closes the simulator and deletes the key file (and its directory when we made it). */
  close(): Promise<void>;
}

export const KEY_FILE_NAME = 'upvest-simulator-key.pem';

export async function startStandaloneSimulator(options: StandaloneOptions): Promise<StandaloneSimulator> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
  const passphrase = randomBytes(24).toString('base64url');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  const ownDir = options.keyDir === undefined;
  const keyDir = options.keyDir ?? (await mkdtemp(join(tmpdir(), 'account-sync-simulator-')));
  const keyFile = join(keyDir, KEY_FILE_NAME);
  await writeFile(keyFile, pem, { mode: 0o600 });

  let simulator: Simulator;
  try {
    simulator = await startSimulator({
      accounts: options.accounts,
      tenant: options.tenant,
      seed: options.seed,
      port: options.port,
      host: options.host,
      publicKey,
      webhookTimeUnitMs: options.webhookTimeUnitMs,
      webhookHttpUrls: options.webhookHttpUrls,
    });
  } catch (error) {
    await rm(ownDir ? keyDir : keyFile, { recursive: true, force: true });
    throw error;
  }
  options.logger?.info({ url: simulator.url, accounts: options.accounts, keyFile }, 'upvest simulator started');

  const env: Record<string, string> = {
    UPVEST_BASE_URL: simulator.url,
    UPVEST_CLIENT_ID: simulator.clientId,
    UPVEST_CLIENT_SECRET: simulator.clientSecret,
    UPVEST_SCOPES: 'accounts:read',
    UPVEST_SIGNING_KEY_FILE: keyFile,
    UPVEST_SIGNING_KEY_PASSPHRASE: passphrase,
    UPVEST_SIGNING_KEY_ID: simulator.keyId,
  };
  return {
    simulator,
    env,
    keyFile,
    async close() {
      await simulator.close();
      await rm(ownDir ? keyDir : keyFile, { recursive: true, force: true });
      options.logger?.info({ url: simulator.url }, 'upvest simulator stopped');
    },
  };
}
