// Verification of HTTP message signatures (draft-ietf-httpbis-message-signatures-15) the way
// Upvest checks them. The signature base is rebuilt from the request as it arrived, so any
// difference between what the client signed and what it sent shows up as a rejection.
import { createHash, verify, type KeyObject } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { parseContentDigest, parseSignatureBytes, parseSignatureInput, SignatureFieldError, type BareItem } from '../upvest/signature-fields.js';

export interface SignedRequest {
  method: string;
  /** The path as sent, without the query. */
  path: string;
  /** The raw query without its "?", or undefined when the target has none. */
  query: string | undefined;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface VerifyPolicy {
  keyId: string;
  key: KeyObject;
  nowMs: number;
  maxAgeSeconds: number;
  clockSkewSeconds: number;
  /** Every call but the token call must cover authorization. */
  requireAuthorization: boolean;
  nonces: NonceCache;
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

const fail = (reason: string): VerifyResult => ({ ok: false, reason });

export function verifyRequestSignature(req: SignedRequest, policy: VerifyPolicy): VerifyResult {
  const version = header(req.headers, 'upvest-signature-version');
  if (version === undefined) return fail('missing upvest-signature-version header');
  if (version !== '15') return fail(`unsupported upvest-signature-version "${version}" (expected 15)`);

  const inputHeader = header(req.headers, 'signature-input');
  if (inputHeader === undefined) return fail('missing signature-input header');
  const signatureHeader = header(req.headers, 'signature');
  if (signatureHeader === undefined) return fail('missing signature header');

  let label: string;
  let components: string[];
  let params: ReadonlyMap<string, BareItem>;
  let signatureParams: string;
  let signature: Uint8Array;
  try {
    ({ label, components, params, paramsText: signatureParams } = parseSignatureInput(inputHeader));
  } catch (error) {
    return fail(`malformed signature-input: ${(error as SignatureFieldError).message}`);
  }
  try {
    signature = parseSignatureBytes(signatureHeader, label);
  } catch (error) {
    return fail(`malformed signature: ${(error as SignatureFieldError).message}`);
  }

  const keyId = params.get('keyid');
  if (keyId === undefined) return fail('signature-input has no keyid parameter');
  if (typeof keyId !== 'string') return fail('signature-input keyid must be a string');
  const created = params.get('created');
  if (created === undefined) return fail('signature-input has no created parameter');
  if (!isInteger(created)) return fail('signature-input created must be an integer');
  const expires = params.get('expires');
  if (expires === undefined) return fail('signature-input has no expires parameter');
  if (!isInteger(expires)) return fail('signature-input expires must be an integer');
  const nonce = params.get('nonce');
  if (nonce === undefined) return fail('signature-input has no nonce parameter');
  if (typeof nonce !== 'string' || nonce === '') return fail('signature-input nonce must be a non-empty string');
  if (keyId !== policy.keyId) return fail(`unknown keyid "${keyId}"`);
  const alg = params.get('alg');
  if (alg !== undefined && alg !== expectedAlg(policy.key)) {
    return fail(`alg ${JSON.stringify(alg)} does not match the registered key (${expectedAlg(policy.key)})`);
  }

  const nowS = policy.nowMs / 1000;
  if (created > nowS + policy.clockSkewSeconds) return fail('signature created in the future');
  if (created < nowS - policy.maxAgeSeconds) return fail('signature created too long ago');
  if (expires < created) return fail('signature expires before it was created');
  if (expires < Math.floor(nowS)) return fail('signature expired');

  const covered: string[] = [];
  for (const name of components) {
    if (covered.includes(name)) return fail(`signature-input covers ${name} twice`);
    covered.push(name);
  }
  const missing = requiredComponents(req, policy).find((c) => !covered.includes(c));
  if (missing) return fail(`signature-input does not cover ${missing}`);

  const lines: string[] = [];
  for (const name of covered) {
    const value = componentValue(req, name);
    if (typeof value !== 'string') return fail(value.error);
    lines.push(`"${name}": ${value}`);
  }
  lines.push(`"@signature-params": ${signatureParams}`);

  const digest = header(req.headers, 'content-digest');
  if (digest !== undefined) {
    const problem = checkContentDigest(digest, req.body);
    if (problem) return fail(problem);
  }

  if (!verifies(policy.key, Buffer.from(lines.join('\n'), 'utf8'), signature)) return fail('bad signature');
  if (!policy.nonces.remember(nonce, created * 1000 + (policy.maxAgeSeconds + policy.clockSkewSeconds) * 1000, policy.nowMs)) {
    return fail('nonce reused');
  }
  return { ok: true };
}

function isInteger(value: BareItem): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

export function hasBody(req: SignedRequest): boolean {
  const length = header(req.headers, 'content-length');
  return req.body.length > 0 || (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function requiredComponents(req: SignedRequest, policy: VerifyPolicy): string[] {
  const required = ['@method', '@path'];
  if (req.query !== undefined) required.push('@query');
  required.push('accept', 'upvest-client-id');
  if (policy.requireAuthorization) required.push('authorization');
  if (req.headers['idempotency-key'] !== undefined) required.push('idempotency-key');
  if (hasBody(req)) required.push('content-type', 'content-length', 'content-digest');
  return required;
}

function componentValue(req: SignedRequest, name: string): string | { error: string } {
  const host = header(req.headers, 'host') ?? '';
  const target = req.query === undefined ? req.path : `${req.path}?${req.query}`;
  switch (name) {
    case '@method':
      return req.method.toUpperCase();
    case '@path':
      return req.path;
    case '@query':
      return req.query === undefined ? { error: 'signature-input covers @query but the request has no query' } : `?${req.query}`;
    case '@authority':
      return host.toLowerCase();
    case '@scheme':
      return 'http';
    case '@target-uri':
      return `http://${host.toLowerCase()}${target}`;
    case '@request-target':
      return target;
  }
  if (name.startsWith('@')) return { error: `unsupported derived component ${name}` };
  if (name !== name.toLowerCase()) return { error: `component names must be lower case ("${name}")` };
  const value = header(req.headers, name);
  return value === undefined ? { error: `covered header ${name} is missing from the request` } : value.trim();
}

function checkContentDigest(value: string, body: Buffer): string | undefined {
  let sha512: Buffer | undefined;
  try {
    sha512 = parseContentDigest(value).get('sha-512');
  } catch (error) {
    return `malformed content-digest: ${(error as SignatureFieldError).message}`;
  }
  if (sha512 === undefined) return 'content-digest has no sha-512 digest';
  const actual = createHash('sha512').update(body).digest();
  return actual.equals(sha512) ? undefined : 'content-digest does not match the body';
}

function expectedAlg(key: KeyObject): string {
  return key.asymmetricKeyType === 'ed25519' ? 'ed25519' : 'ecdsa-p521-sha512';
}

function verifies(key: KeyObject, data: Buffer, signature: Uint8Array): boolean {
  try {
    if (key.asymmetricKeyType === 'ed25519') return verify(null, data, key, signature);
    return verify('sha512', data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    return false;
  }
}

/**
 * Nonces seen while their signatures could still be accepted. Insertion order is close to
 * expiry order, so pruning from the front keeps it small without a timer.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly maxEntries = 250_000) {}

  /** Records the nonce until `untilMs`; false when it is already known (a replay). */
  remember(nonce: string, untilMs: number, nowMs: number): boolean {
    for (const [key, until] of this.seen) {
      if (until >= nowMs && this.seen.size < this.maxEntries) break;
      this.seen.delete(key);
    }
    const until = this.seen.get(nonce);
    if (until !== undefined && until >= nowMs) return false;
    this.seen.set(nonce, untilMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
