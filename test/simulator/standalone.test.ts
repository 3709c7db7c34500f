import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runSimulator, simulatorCommand } from '../../src/commands/simulator.js';
import type { Simulator } from '../../src/simulator/index.js';
import { startStandaloneSimulator } from '../../src/simulator/standalone.js';
import { TestClient } from './client-helper.js';

/** A stream that collects text and tells when a line containing `marker` has arrived. */
function capture(marker?: string) {
  let text = '';
  let seen: () => void = () => {};
  const arrived = new Promise<void>((resolve) => (seen = resolve));
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      if (marker !== undefined && text.includes(marker)) seen();
      done();
    },
  });
  return { stream, arrived, text: () => text };
}

/** Talks to a simulator the way a user would: with the key file and passphrase from `env`. */
async function firstPage(url: string, env: Record<string, string>) {
  const key = createPrivateKey({ key: readFileSync(env.UPVEST_SIGNING_KEY_FILE!), passphrase: env.UPVEST_SIGNING_KEY_PASSPHRASE! });
  const sim = { url, clientId: env.UPVEST_CLIENT_ID!, clientSecret: env.UPVEST_CLIENT_SECRET!, keyId: env.UPVEST_SIGNING_KEY_ID! } as Simulator;
  const client = new TestClient(sim, { key });
  return client.page(await client.accessToken(env.UPVEST_SCOPES), 'limit=1000');
}

describe('startStandaloneSimulator', () => {
  it('writes an encrypted P-521 key only we can read and returns the client environment', async () => {
    const { simulator, env, keyFile, close } = await startStandaloneSimulator({ accounts: 40, seed: 8 });
    try {
      expect(Object.keys(env).sort()).toEqual([
        'UPVEST_BASE_URL',
        'UPVEST_CLIENT_ID',
        'UPVEST_CLIENT_SECRET',
        'UPVEST_SCOPES',
        'UPVEST_SIGNING_KEY_FILE',
        'UPVEST_SIGNING_KEY_ID',
        'UPVEST_SIGNING_KEY_PASSPHRASE',
      ]);
      expect(env).toMatchObject({ UPVEST_BASE_URL: simulator.url, UPVEST_SCOPES: 'accounts:read', UPVEST_SIGNING_KEY_FILE: keyFile });
      expect(keyFile.startsWith(tmpdir())).toBe(true);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const pem = readFileSync(keyFile, 'utf8');
      expect(pem).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
      expect(() => createPrivateKey({ key: pem, passphrase: 'wrong' })).toThrow();
      const key = createPrivateKey({ key: pem, passphrase: env.UPVEST_SIGNING_KEY_PASSPHRASE! });
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
      expect(simulator.privateKeyPem).toBeUndefined();

      const page = await firstPage(simulator.url, env);
      expect(page.data).toEqual(simulator.dataset.list());
    } finally {
      await close();
    }
    expect(existsSync(dirname(keyFile))).toBe(false);
  });

  it('puts the key into a given directory and leaves the directory there', async () => {
    const keyDir = mkdtempSync(join(tmpdir(), 'sim-keydir-'));
    try {
      const standalone = await startStandaloneSimulator({ accounts: 1, keyDir });
      expect(dirname(standalone.keyFile)).toBe(keyDir);
      await standalone.close();
      expect([existsSync(keyDir), existsSync(standalone.keyFile)]).toEqual([true, false]);
    } finally {
      rmSync(keyDir, { recursive: true, force: true });
    }
  });
});

describe('account-sync simulator', () => {
  it('prints export lines and a hint, serves until stopped, then cleans up', async () => {
    const stdout = capture('# Upvest simulator');
    const stderr = capture();
    const stop = new AbortController();
    const running = runSimulator(['--accounts', '25', '--seed', '4', '--changes-every-ms', '60000'], { env: { LOG_LEVEL: 'silent' }, stdout: stdout.stream, stderr: stderr.stream }, stop.signal);
    await Promise.race([
      stdout.arrived,
      running.then((code) => {
        throw new Error(`simulator exited with ${code}: ${stderr.text()}`);
      }),
    ]);

    const lines = stdout.text().trimEnd().split('\n');
    expect(lines).toHaveLength(8);
    expect(lines[7]).toMatch(/^# Upvest simulator: 25 accounts at http:\/\/127\.0\.0\.1:\d+\. /);
    const env: Record<string, string> = {};
    for (const line of lines.slice(0, 7)) {
      const match = /^export (UPVEST_[A-Z_]+)='([^']*)'$/.exec(line);
      expect(match, line).not.toBeNull();
      env[match![1]!] = match![2]!;
    }
    const page = await firstPage(env.UPVEST_BASE_URL!, env);
    expect(page.meta.total_count).toBe(25);

    stop.abort();
    expect(await running).toBe(0);
    expect(existsSync(env.UPVEST_SIGNING_KEY_FILE!)).toBe(false);
    expect(stderr.text()).toBe('');
  });

  it('applies one round of changes when asked (SIGUSR2 in the command), logs it, and serves the changed tenant', async () => {
    const stdout = capture('# Upvest simulator');
    const stderr = capture('"round":2');
    const stop = new AbortController();
    let request: (() => void) | undefined;
    const running = runSimulator(['--accounts', '30', '--seed', '6'], { env: { LOG_LEVEL: 'info' }, stdout: stdout.stream, stderr: stderr.stream }, stop.signal, (listener) => {
      request = listener;
      return () => (request = undefined);
    });
    await stdout.arrived;
    const env = Object.fromEntries([...stdout.text().matchAll(/^export (UPVEST_[A-Z_]+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
    const before = await firstPage(env.UPVEST_BASE_URL!, env);
    request!();
    request!();
    await stderr.arrived;
    const rounds = stderr
      .text()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'simulator changed accounts');
    // Each round: 5 status changes, 2 renames, 2 additions, 1 removal, 1 change of users.
    expect(rounds.map(({ round, cause, added, removed, accounts }) => ({ round, cause, added, removed, accounts }))).toEqual([
      { round: 1, cause: 'request', added: 2, removed: 1, accounts: 31 },
      { round: 2, cause: 'request', added: 2, removed: 1, accounts: 32 },
    ]);
    const after = await firstPage(env.UPVEST_BASE_URL!, env);
    expect([before.meta.total_count, after.meta.total_count]).toEqual([30, 32]);
    expect(after.data).not.toEqual(before.data);

    stop.abort();
    expect(await running).toBe(0);
    expect(request).toBeUndefined();
  });

  it('rejects bad arguments with exit code 2 and says why', async () => {
    const cases: Array<[string[], string]> = [
      [['--accounts', 'many'], '--accounts must be a whole number from 0 to 50000000, got "many"'],
      [['--port', '70000'], '--port must be a whole number from 0 to 65535, got "70000"'],
      [['--changes-every-ms', '0'], '--changes-every-ms must be a whole number from 1 to 86400000, got "0"'],
      [['--bogus'], "Unknown option '--bogus'"],
    ];
    for (const [args, message] of cases) {
      const stderr = capture();
      const code = await simulatorCommand.run(args, { env: {}, stdout: capture().stream, stderr: stderr.stream });
      expect(code).toBe(2);
      expect(stderr.text()).toContain(message);
    }
  });
});
