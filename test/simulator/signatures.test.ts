import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { rawRequest, TestClient, type RawResponse } from './client-helper.js';
import { signRequest } from './sign-helper.js';

let sim: Simulator;
let client: TestClient;
let token: string;

beforeAll(async () => {
  sim = await startSimulator({ accounts: 50, seed: 3 });
  client = new TestClient(sim);
  token = await client.accessToken();
});
afterAll(() => sim?.close());
beforeEach(() => sim.stats.reset());

const nowS = () => Math.floor(Date.now() / 1000);

/** A 401 for exactly this signature defect, counted as a signature rejection. */
function expectRejected(response: RawResponse, reason: string): void {
  expect([response.status, response.headers['content-type'], response.json().detail]).toEqual([
    401,
    'application/problem+json',
    `invalid HTTP message signature: ${reason}`,
  ]);
  expect(sim.stats.lastRejection).toBe(reason);
}

describe('HTTP message signatures', () => {
  it('accepts components and parameters in any order, with or without alg', async () => {
    const components = ['upvest-client-id', '@query', 'authorization', '@path', 'accept', '@method'];
    const reordered = await client.get('/accounts', 'limit=1', { token, sign: { components, paramOrder: ['nonce', 'expires', 'keyid', 'created'] } });
    expect(reordered.status).toBe(200);
    const withAlg = await client.get('/accounts', 'limit=1', { token, sign: { alg: 'ecdsa-p521-sha512' } });
    expect(withAlg.status).toBe(200);
    expect(sim.stats.signatureRejections).toBe(0);
  });

  it('rejects a request without a signature', async () => {
    const response = await rawRequest(sim.url, {
      method: 'GET',
      target: '/accounts',
      headers: { accept: 'application/json', 'upvest-client-id': sim.clientId, authorization: `Bearer ${token}`, 'upvest-signature-version': '15' },
    });
    expectRejected(response, 'missing signature-input header');
    const noVersion = await client.get('/accounts', 'limit=1', { token, headers: { 'upvest-signature-version': '' } });
    expect(noVersion.json().detail).toBe('invalid HTTP message signature: unsupported upvest-signature-version "" (expected 15)');
    expect(sim.stats.signatureRejections).toBe(2);
  });

  it('rejects a signature over a different base, or made with another key', async () => {
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { tamperBase: (base) => base.replace('limit=1', 'limit=2') } }), 'bad signature');
    const stranger = generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey;
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { key: stranger } }), 'bad signature');
  });

  it('rejects a token request whose body does not match its content-digest', async () => {
    const response = await client.token({ body: Buffer.from(new URLSearchParams({
      client_id: sim.clientId,
      client_secret: sim.clientSecret,
      grant_type: 'client_credentials',
      scope: 'accounts:reax',
    }).toString()) });
    expectRejected(response, 'content-digest does not match the body');
    expectRejected(await client.token({ sign: { components: ['@method', '@path', 'accept', 'upvest-client-id', 'content-type', 'content-length'] } }), 'signature-input does not cover content-digest');
  });

  it('rejects stale, future and expired signatures', async () => {
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { created: nowS() - 301, expires: nowS() + 60 } }), 'signature created too long ago');
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { created: nowS() + 60, expires: nowS() + 90 } }), 'signature created in the future');
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { created: nowS() - 10, expires: nowS() - 5 } }), 'signature expired');
    expect((await client.get('/accounts', 'limit=1', { token, sign: { created: nowS() + 3 } })).status).toBe(200);
  });

  it('rejects a reused nonce', async () => {
    const nonce = `nonce-${Date.now()}`;
    expect((await client.get('/accounts', 'limit=1', { token, sign: { nonce } })).status).toBe(200);
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { nonce } }), 'nonce reused');
  });

  it('rejects missing signature parameters', async () => {
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { paramOrder: ['keyid', 'created', 'expires'] } }), 'signature-input has no nonce parameter');
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { paramOrder: ['keyid', 'expires', 'nonce'] } }), 'signature-input has no created parameter');
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { paramOrder: ['keyid', 'created', 'nonce'] } }), 'signature-input has no expires parameter');
  });

  it('rejects incomplete or wrong coverage', async () => {
    const base = ['@method', '@path', 'accept', 'upvest-client-id', 'authorization'];
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { components: base } }), 'signature-input does not cover @query');
    expectRejected(await client.get('/accounts', '', { token, sign: { components: [...base, '@query'] } }), 'signature-input covers @query but the request has no query');
    expectRejected(
      await client.get('/accounts', 'limit=1', { token, sign: { components: ['@method', '@path', '@query', 'accept', 'upvest-client-id'] } }),
      'signature-input does not cover authorization',
    );
    expectRejected(
      await client.get('/accounts', 'limit=1', { token, sign: { components: [...base, '@query', 'date'] } }),
      'covered header date is missing from the request',
    );
  });

  it('rejects an unknown keyid and an alg that does not fit the key', async () => {
    expectRejected(await client.get('/accounts', 'limit=1', { token, sign: { keyId: 'someone-elses-key' } }), 'unknown keyid "someone-elses-key"');
    expectRejected(
      await client.get('/accounts', 'limit=1', { token, sign: { alg: 'ed25519' } }),
      'alg "ed25519" does not match the registered key (ecdsa-p521-sha512)',
    );
  });

  it('rejects a malformed signature-input', async () => {
    const headers = signRequest({
      method: 'GET',
      path: '/accounts',
      headers: { accept: 'application/json', 'upvest-client-id': sim.clientId, authorization: `Bearer ${token}` },
      key: client.key,
      keyId: sim.keyId,
    });
    headers['signature-input'] = headers['signature-input']!.replace('("@method"', '("@method",');
    const response = await rawRequest(sim.url, { method: 'GET', target: '/accounts', headers });
    expect(response.status).toBe(401);
    expect(response.json().detail).toMatch(/^invalid HTTP message signature: malformed signature-input: /);
  });
});

describe('Ed25519 keys', () => {
  it('are accepted for self-signing', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const edSim = await startSimulator({ accounts: 5, publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
    try {
      expect(edSim.privateKeyPem).toBeUndefined();
      const edClient = new TestClient(edSim, { key: privateKey });
      const page = await edClient.page(await edClient.accessToken(), 'limit=5');
      expect(page.data).toEqual(edSim.dataset.list());
      expect(edSim.stats.signatureRejections).toBe(0);
    } finally {
      await edSim.close();
    }
  });
});
