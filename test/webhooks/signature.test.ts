// The webhook verifier against vectors that do not come from our own signer: the digest
// example of Upvest's docs, and signature bases written out by hand from Upvest's published v6
// rules (unquoted component names, @method upper case, @signature-params as sent), signed with
// node:crypto directly.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature, type ArrivedRequest, type SignaturePolicy } from '../../src/webhooks/signature.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' });
const KEY_ID = '2f1c8e0a-7b4d-4c9e-8a1f-3d5b6c7e8f90';
const keys = async (id: string): Promise<{ key: KeyObject } | undefined> => (id === KEY_ID ? { key: publicKey } : undefined);

// The example of Upvest's "v6 content digest" page.
const DOC_BODY = Buffer.from('{"hello": "world"}', 'utf8');
const DOC_DIGEST = 'SHA-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=';

const CREATED = 1_764_460_800; // 2025-11-30T00:00:00Z
const PARAMS = `("content-type" "@method" "@path" "digest");keyid="${KEY_ID}";created=${CREATED};nonce="0123456789";expires=${CREATED + 60}`;
const BASE = [
  'content-type: application/json',
  '@method: POST',
  '@path: /hooks/upvest',
  `digest: ${DOC_DIGEST}`,
  `@signature-params: ${PARAMS}`,
].join('\n');

const policy = (overrides: Partial<SignaturePolicy> = {}): SignaturePolicy => ({
  nowMs: (CREATED + 5) * 1000,
  maxAgeSeconds: 300,
  clockSkewSeconds: 60,
  enforceExpires: false,
  ...overrides,
});

function signBase(base: string, encoding: 'der' | 'ieee-p1363' = 'der', key = privateKey): string {
  return `sig1=:${sign('sha512', Buffer.from(base, 'utf8'), { key, dsaEncoding: encoding }).toString('base64')}:`;
}

function request(headers: Record<string, string>, overrides: Partial<ArrivedRequest> = {}): ArrivedRequest {
  return {
    method: 'POST',
    path: '/hooks/upvest',
    query: undefined,
    rawHeaders: Object.entries(headers).flat(),
    body: DOC_BODY,
    ...overrides,
  };
}

const docHeaders = (extra: Record<string, string> = {}) => ({
  'Content-Type': 'application/json',
  Digest: DOC_DIGEST,
  'Signature-Input': `sig1=${PARAMS}`,
  Signature: signBase(BASE),
  ...extra,
});

describe('webhook signatures (Upvest v6)', () => {
  it('computes the digest of the docs example', () => {
    expect(`SHA-256=${createHash('sha256').update(DOC_BODY).digest('base64')}`).toBe(DOC_DIGEST);
  });

  it('accepts a request signed over the hand-written base, DER or raw r||s', async () => {
    expect(await verifyWebhookSignature(request(docHeaders()), policy(), keys)).toEqual({ ok: true, keyId: KEY_ID, created: CREATED });
    const raw = request(docHeaders({ Signature: signBase(BASE, 'ieee-p1363') }));
    expect(await verifyWebhookSignature(raw, policy(), keys)).toMatchObject({ ok: true });
    const versioned = request(docHeaders({ 'Upvest-Signature-Version': '6' }));
    expect(await verifyWebhookSignature(versioned, policy(), keys)).toMatchObject({ ok: true });
  });

  it('covers @query with its "?" and the header values as Upvest signs them', async () => {
    const params = `("accept" "@method" "@path" "@query" "digest");keyid="${KEY_ID}";created=${CREATED};nonce="42";expires=${CREATED + 60}`;
    const base = [
      'accept: application/json',
      '@method: POST',
      '@path: /hooks/upvest',
      '@query: ?tenant=7&x=%20y',
      `digest: ${DOC_DIGEST}`,
      `@signature-params: ${params}`,
    ].join('\n');
    const headers = { Accept: 'application/json, text/plain', Digest: DOC_DIGEST, 'Signature-Input': `sig1=${params}`, Signature: signBase(base) };
    expect(await verifyWebhookSignature(request(headers, { query: 'tenant=7&x=%20y' }), policy(), keys)).toMatchObject({ ok: true });
    const whole = base.replace('accept: application/json', 'accept: application/json, text/plain');
    const wholeHeaders = { ...headers, Signature: signBase(whole) };
    expect(await verifyWebhookSignature(request(wholeHeaders, { query: 'tenant=7&x=%20y' }), policy(), keys)).toMatchObject({ ok: true });
    expect(await verifyWebhookSignature(request(headers), policy(), keys)).toMatchObject({
      ok: false,
      failure: 'not_covered',
      reason: 'signature-input covers @query but the request has no query',
    });
  });

  it('accepts a v15-style content-digest and quoted names when the request says version 15', async () => {
    const contentDigest = `sha-512=:${createHash('sha512').update(DOC_BODY).digest('base64')}:`;
    const params = `("@method" "@path" "content-digest");keyid="${KEY_ID}";created=${CREATED};expires=${CREATED + 30}`;
    const base = [`"@method": POST`, `"@path": /hooks/upvest`, `"content-digest": ${contentDigest}`, `"@signature-params": ${params}`].join('\n');
    const headers = { 'content-digest': contentDigest, 'upvest-signature-version': '15', 'signature-input': `sig1=${params}`, signature: signBase(base) };
    expect(await verifyWebhookSignature(request(headers), policy(), keys)).toMatchObject({ ok: true });
  });

  it.each([
    ['a changed body', { body: Buffer.from('{"hello": "world!"}') }, {}, 'digest_mismatch', 'digest does not match the body'],
    ['another key', {}, { Signature: signBase(BASE, 'der', generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).privateKey) }, 'bad_signature', 'signature does not verify'],
    ['a changed path', { path: '/hooks/other' }, {}, 'bad_signature', 'signature does not verify'],
    ['no signature-input', {}, { 'Signature-Input': '' }, 'malformed', 'malformed signature header: empty signature-input'],
    ['an unknown keyid', {}, { 'Signature-Input': `sig1=${PARAMS.replace(KEY_ID, 'b0b0b0b0-0000-4000-8000-000000000000')}` }, 'unknown_key', 'unknown keyid "b0b0b0b0-0000-4000-8000-000000000000"'],
    ['an unknown algorithm', {}, { 'Signature-Input': `sig1=${PARAMS};alg="hmac-sha256"` }, 'unsupported', 'unsupported algorithm "hmac-sha256"'],
    ['no created', {}, { 'Signature-Input': `sig1=${PARAMS.replace(`;created=${CREATED}`, '')}` }, 'malformed', 'signature-input has no integer created parameter'],
    ['a covered header that is missing', {}, { 'Content-Type': '' }, 'bad_signature', 'signature does not verify'],
    ['an unknown signature version', {}, { 'Upvest-Signature-Version': '7' }, 'unsupported', 'unsupported upvest-signature-version "7"'],
  ] as const)('refuses %s', async (_name, overrides, headers, failure, reason) => {
    const verdict = await verifyWebhookSignature(request(docHeaders(headers), overrides as Partial<ArrivedRequest>), policy(), keys);
    expect(verdict).toMatchObject({ ok: false, failure, reason });
  });

  it('refuses a body whose digest is not covered, and a covered header the request lacks', async () => {
    const params = `("@method" "@path");keyid="${KEY_ID}";created=${CREATED}`;
    const base = `@method: POST\n@path: /hooks/upvest\n@signature-params: ${params}`;
    const uncovered = request({ Digest: DOC_DIGEST, 'Signature-Input': `sig1=${params}`, Signature: signBase(base) });
    expect(await verifyWebhookSignature(uncovered, policy(), keys)).toMatchObject({
      ok: false,
      failure: 'not_covered',
      reason: 'signature-input covers neither digest nor content-digest of the body',
    });
    const headers = docHeaders();
    delete (headers as Record<string, string>)['Content-Type'];
    expect(await verifyWebhookSignature(request(headers), policy(), keys)).toMatchObject({
      ok: false,
      failure: 'not_covered',
      reason: 'signature-input covered header content-type is missing from the request',
    });
  });

  it('applies the time policy: stale created, created in the future, expires only when enforced', async () => {
    const at = (seconds: number, overrides: Partial<SignaturePolicy> = {}) =>
      verifyWebhookSignature(request(docHeaders()), policy({ nowMs: seconds * 1000, ...overrides }), keys);
    expect(await at(CREATED + 301)).toMatchObject({ ok: false, failure: 'stale', reason: 'signature created 301 s ago (limit 300 s)' });
    expect(await at(CREATED + 301, { maxAgeSeconds: 0 })).toMatchObject({ ok: true });
    expect(await at(CREATED - 61)).toMatchObject({ ok: false, failure: 'future' });
    expect(await at(CREATED + 200)).toMatchObject({ ok: true });
    expect(await at(CREATED + 200, { enforceExpires: true })).toMatchObject({ ok: false, failure: 'expired' });
    expect(await at(CREATED + 100, { enforceExpires: true })).toMatchObject({ ok: true });
  });
});

describe('structured fields of signatures (structured-headers)', () => {
  it('reads the member text exactly as sent, or in canonical form when the header holds several', async () => {
    const { parseSignatureInput, parseSignatureBytes } = await import('../../src/upvest/signature-fields.js');
    const v6 = `sig1=("content-type" "@method");keyid="${KEY_ID}";created=1;nonce="0042";expires=61`;
    expect(parseSignatureInput(v6)).toEqual({
      label: 'sig1',
      components: ['content-type', '@method'],
      params: new Map<string, unknown>([['keyid', KEY_ID], ['created', 1], ['nonce', '0042'], ['expires', 61]]),
      paramsText: `("content-type" "@method");keyid="${KEY_ID}";created=1;nonce="0042";expires=61`,
    });
    // Alone in its header, even a non-canonical member is taken as sent.
    expect(parseSignatureInput('sig1=("a"  "b");created=01').paramsText).toBe('("a"  "b");created=01');
    expect(parseSignatureInput('sig1=("a");created=1, sig2=("b");created=2').paramsText).toBe('("a");created=1');
    expect(() => parseSignatureInput('sig1=("a"  "b");created=1, sig2=("b")')).toThrow('member sig1 is not in canonical form');
    expect(() => parseSignatureInput('sig1=("a";x=1)')).toThrow('component parameters are not supported ("a")');
    expect(parseSignatureBytes('sig1=:AQID:, sig2=:BA==:', 'sig2')).toEqual(Buffer.from([4]));
    expect(() => parseSignatureBytes('sig1=("a")', 'sig1')).toThrow('signature sig1 is not a byte sequence');
  });
});
