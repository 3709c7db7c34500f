import { generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentDigest, createSigner, loadSigningKey } from '../../src/upvest/signing.js';

const dir = mkdtempSync(join(tmpdir(), 'signing-test-'));

function writeKey(name: string, pem: string): string {
  const file = join(dir, name);
  writeFileSync(file, pem, { mode: 0o600 });
  return file;
}

const ec = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
const ecFile = writeKey(
  'ec-encrypted.pem',
  ec.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'correct horse' }) as string,
);

describe('request signing', () => {
  it('builds the signature base Upvest verifies, and signs it with ECDSA P-521 / SHA-512 in DER', async () => {
    const key = loadSigningKey({ file: ecFile, passphrase: 'correct horse', keyId: 'key-123' });
    const sign = createSigner({ key, ttlSeconds: 30, now: () => 1_700_000_000_900, nonce: () => 'nonce-1' });
    const url = new URL('https://sandbox.upvest.co/accounts?offset=0&limit=100&sort=created_at&order=ASC');
    const headers = {
      accept: 'application/json',
      authorization: 'Bearer abc',
      'upvest-client-id': 'client-1',
      'upvest-api-version': '1',
    };
    const added = await sign({ method: 'GET', url, headers });

    const params =
      '("@method" "@path" "@query" "accept" "authorization" "upvest-client-id" "upvest-api-version" "date")' +
      ';keyid="key-123";created=1700000000;expires=1700000030;nonce="nonce-1"';
    expect(added['signature-input']).toBe(`sig1=${params}`);
    expect(added['upvest-signature-version']).toBe('15');
    expect(added.date).toBe('Tue, 14 Nov 2023 22:13:20 GMT');
    const base = [
      '"@method": GET',
      '"@path": /accounts',
      '"@query": ?offset=0&limit=100&sort=created_at&order=ASC',
      '"accept": application/json',
      '"authorization": Bearer abc',
      '"upvest-client-id": client-1',
      '"upvest-api-version": 1',
      '"date": Tue, 14 Nov 2023 22:13:20 GMT',
      `"@signature-params": ${params}`,
    ].join('\n');
    const match = /^sig1=:([A-Za-z0-9+/=]+):$/.exec(added.signature ?? '');
    expect(match).not.toBeNull();
    const signature = Buffer.from(match![1]!, 'base64');
    expect(signature[0]).toBe(0x30); // a DER SEQUENCE, not the raw r||s form
    expect(verify('sha512', Buffer.from(base), { key: ec.publicKey, dsaEncoding: 'der' }, signature)).toBe(true);
  });

  it('covers the body of a POST with content-type, content-length and content-digest, and no @query', async () => {
    const key = loadSigningKey({ file: ecFile, passphrase: 'correct horse', keyId: 'k' });
    const sign = createSigner({ key, ttlSeconds: 10, now: () => 1_700_000_000_000, nonce: () => 'n' });
    const body = Buffer.from('grant_type=client_credentials&scope=accounts%3Aread');
    const added = await sign({
      method: 'post',
      url: new URL('https://sandbox.upvest.co/auth/token'),
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'upvest-client-id': 'c' },
      body,
    });
    expect(added['signature-input']).toBe(
      'sig1=("@method" "@path" "accept" "upvest-client-id" "date" "content-type" "content-length" "content-digest")' +
        ';keyid="k";created=1700000000;expires=1700000010;nonce="n"',
    );
    expect(added['content-length']).toBe(String(body.length));
    expect(added['content-digest']).toBe(contentDigest(body));
    expect(contentDigest(Buffer.from('hello'))).toBe(
      'sha-512=:m3HSJL1i83hdltRq0+o9czGb+8KJDKra4t/3JRlnPKcjI8PZm6XBHXx6zG4UuMXaDEZjR1wuXDre9G9zvN7AQw==:',
    );
  });

  it('signs every request afresh: a new nonce and window each time', async () => {
    const key = loadSigningKey({ file: ecFile, passphrase: 'correct horse', keyId: 'k' });
    let clock = 1_700_000_000_000;
    const sign = createSigner({ key, ttlSeconds: 30, now: () => clock });
    const request = { method: 'GET', url: new URL('https://x.test/accounts'), headers: { accept: 'application/json' } };
    const first = await sign(request);
    clock += 5_000;
    const second = await sign(request);
    const nonceOf = (input: string | undefined) => /nonce="([^"]+)"/.exec(input ?? '')?.[1];
    expect(nonceOf(first['signature-input'])).not.toBe(nonceOf(second['signature-input']));
    expect(second['signature-input']).toContain(';created=1700000005;expires=1700000035;');
  });

  it('accepts Ed25519 keys and signs without a separate digest', async () => {
    const ed = generateKeyPairSync('ed25519');
    const file = writeKey('ed.pem', ed.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    const key = loadSigningKey({ file, passphrase: undefined, keyId: 'ed' });
    const added = await createSigner({ key, ttlSeconds: 30, now: () => 1_700_000_000_000, nonce: () => 'n' })({
      method: 'GET',
      url: new URL('https://x.test/accounts'),
      headers: { accept: 'application/json' },
    });
    const params = '("@method" "@path" "accept" "date");keyid="ed";created=1700000000;expires=1700000030;nonce="n"';
    const base = `"@method": GET\n"@path": /accounts\n"accept": application/json\n"date": Tue, 14 Nov 2023 22:13:20 GMT\n"@signature-params": ${params}`;
    const signature = Buffer.from(/^sig1=:(.+):$/.exec(added.signature ?? '')![1]!, 'base64');
    expect(verify(null, Buffer.from(base), ed.publicKey, signature)).toBe(true);
  });

  it('names the setting to fix when the key cannot be used', () => {
    expect(() => loadSigningKey({ file: join(dir, 'missing.pem'), passphrase: undefined, keyId: 'k' })).toThrow(
      /^UPVEST_SIGNING_KEY_FILE: cannot read .*missing\.pem \(ENOENT\)$/,
    );
    expect(() => loadSigningKey({ file: ecFile, passphrase: undefined, keyId: 'k' })).toThrow(
      /it is encrypted: set UPVEST_SIGNING_KEY_PASSPHRASE$/,
    );
    expect(() => loadSigningKey({ file: ecFile, passphrase: 'wrong', keyId: 'k' })).toThrow(
      /UPVEST_SIGNING_KEY_PASSPHRASE does not decrypt it$/,
    );
    const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const p256File = writeKey('p256.pem', p256.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
    expect(() => loadSigningKey({ file: p256File, passphrase: undefined, keyId: 'k' })).toThrow(
      /holds a EC prime256v1 key; Upvest needs EC P-521 \(secp521r1\) or Ed25519$/,
    );
  });
});
