// Verification of the HTTP message signatures Upvest puts on webhook requests: its v6 scheme
// (draft-ietf-httpbis-message-signatures-06 with Upvest's deviations), checked against the raw
// body bytes before anything parses them. What Upvest's public material leaves open is
// tolerated (DER or raw r||s, digest or content-digest, optional upvest-signature-version) or
// made a policy setting (created/expires); everything else is strict.
import { createHash, verify, type KeyObject } from 'node:crypto';
import { parseContentDigest, parseSignatureBytes, parseSignatureInput, SignatureFieldError, type BareItem } from '../upvest/signature-fields.js';
import { componentValues, headerValue, type ArrivedRequest } from './signed-values.js';

export type { ArrivedRequest };

export interface SignaturePolicy {
  nowMs: number;
  /** A signature whose `created` is older than this is stale; 0: no limit. */
  maxAgeSeconds: number;
  /** Tolerated clock difference for `created` in the future (and for `expires`). */
  clockSkewSeconds: number;
  /** Refuse signatures whose `expires` has passed (Upvest's signer sets created + 60 s). */
  enforceExpires: boolean;
}

/**
 * The public key for a keyid (fetching Upvest's keys again, within bounds, if it is unknown);
 * `withdrawn` for a key Upvest stopped listing longer ago than the grace period.
 */
export type KeyLookup = (keyId: string) => Promise<{ key: KeyObject } | { withdrawn: true } | undefined>;

/** Why a request was refused, stable for metrics and logs. */
export type SignatureFailure =
  | 'missing'
  | 'malformed'
  | 'unsupported'
  | 'not_covered'
  | 'digest_mismatch'
  | 'stale'
  | 'future'
  | 'expired'
  | 'unknown_key'
  | 'withdrawn_key'
  | 'bad_signature';

export type SignatureRefusal = { ok: false; failure: SignatureFailure; reason: string; keyId?: string };
export type SignatureVerdict = { ok: true; keyId: string; created: number } | SignatureRefusal;

const refuse = (failure: SignatureFailure, reason: string, keyId?: string): SignatureRefusal => ({ ok: false, failure, reason, keyId });

/** The only algorithm Upvest's verify_keys can describe (kty EC, crv P-521). */
export const WEBHOOK_ALGORITHM = 'ecdsa-p521-sha512';
/** P-521 signature as raw r||s: two 66-byte integers. */
const RAW_P521_LENGTH = 132;

export async function verifyWebhookSignature(
  request: ArrivedRequest,
  policy: SignaturePolicy,
  keys: KeyLookup,
): Promise<SignatureVerdict> {
  const head = checkHead({ ...request, hasBody: request.body.length > 0 }, policy);
  if ('failure' in head) return head;
  const found = await keys(head.keyId);
  if (found === undefined || 'withdrawn' in found) return keyRefusal(head.keyId, found);
  return checkBody(head, request, found.key);
}

/** Why a key id has no key to verify with. */
export function keyRefusal(keyId: string, found: { withdrawn: true } | undefined): SignatureRefusal {
  return found === undefined
    ? refuse('unknown_key', `unknown keyid "${shownKeyId(keyId)}"`, keyId)
    : refuse('withdrawn_key', `keyid "${shownKeyId(keyId)}" was withdrawn by Upvest (not listed for longer than the grace period)`, keyId);
}

/** A request before its body is read: what can be checked from its headers alone. */
export interface ArrivedHead extends Omit<ArrivedRequest, 'body'> {
  /** Whether the request declares a body (a content-length above 0, or a transfer-encoding). */
  hasBody: boolean;
}

export interface CheckedHead {
  keyId: string;
  created: number;
  /** Candidate signature bases (see signed-values.ts); the signature must verify one. */
  bases: string[];
  signature: Buffer;
  /** A digest of the body is covered. */
  coversDigest: boolean;
}

/** A key id as written to logs and answers: at most this long, printable ASCII only. */
export function shownKeyId(keyId: string): string {
  const printable = keyId.replace(/[^\x21-\x7e]/g, '?');
  return printable.length > MAX_SHOWN_KEY_ID ? `${printable.slice(0, MAX_SHOWN_KEY_ID)}…` : printable;
}
const MAX_SHOWN_KEY_ID = 64;

/**
 * Everything that needs neither the body nor the key: parsing, coverage, the time window and
 * the signature bases (covered components are headers and the request line). Run before the
 * body is read, so that a request that cannot pass costs no reading.
 */
export function checkHead(request: ArrivedHead, policy: SignaturePolicy): CheckedHead | SignatureRefusal {
  const version = headerValue(request, 'upvest-signature-version');
  if (version !== undefined && version !== '6' && version !== '15') {
    return refuse('unsupported', `unsupported upvest-signature-version "${version.slice(0, 16)}"`);
  }
  const inputHeader = headerValue(request, 'signature-input');
  if (inputHeader === undefined) return refuse('missing', 'missing signature-input header');
  const signatureHeader = headerValue(request, 'signature');
  if (signatureHeader === undefined) return refuse('missing', 'missing signature header');

  let input: ReturnType<typeof parseSignatureInput>;
  let signature: Buffer;
  try {
    input = parseSignatureInput(inputHeader);
    signature = parseSignatureBytes(signatureHeader, input.label);
  } catch (error) {
    return refuse('malformed', `malformed signature header: ${(error as SignatureFieldError).message.slice(0, 200)}`);
  }

  const params = readParams(input.params);
  if (typeof params === 'string') return refuse('malformed', params);
  const { keyId, created, expires } = params;
  if (params.alg !== undefined && params.alg !== WEBHOOK_ALGORITHM) {
    return refuse('unsupported', `unsupported algorithm "${params.alg.slice(0, 32)}"`, keyId);
  }

  const covered = new Set<string>();
  for (const name of input.components) {
    if (covered.has(name)) return refuse('malformed', `signature-input covers ${name.slice(0, 64)} twice`, keyId);
    covered.add(name);
  }
  const required = ['@method', '@path'];
  if (request.query !== undefined) required.push('@query');
  for (const name of required) if (!covered.has(name)) return refuse('not_covered', `signature-input does not cover ${name}`, keyId);
  const coversDigest = covered.has('digest') || covered.has('content-digest');
  // Decision: a body counts only if a covered digest vouches for it.
  if (request.hasBody && !coversDigest) {
    return refuse('not_covered', 'signature-input covers neither digest nor content-digest of the body', keyId);
  }

  const nowS = policy.nowMs / 1000;
  if (created > nowS + policy.clockSkewSeconds) return refuse('future', 'signature created in the future', keyId);
  if (policy.maxAgeSeconds > 0 && created < nowS - policy.maxAgeSeconds) {
    return refuse('stale', `signature created ${Math.floor(nowS - created)} s ago (limit ${policy.maxAgeSeconds} s)`, keyId);
  }
  if (expires !== undefined && expires < created) return refuse('malformed', 'signature expires before it was created', keyId);
  if (policy.enforceExpires && expires !== undefined && expires + policy.clockSkewSeconds < nowS) {
    return refuse('expired', 'signature expired', keyId);
  }

  // One base with Upvest's value normalisation, one with the values as sent (when different).
  const upvest: string[] = [];
  const asSent: string[] = [];
  const quote = version === '15' ? (name: string) => `"${name}"` : (name: string) => name;
  for (const name of input.components) {
    const values = componentValues(request, name);
    if (!Array.isArray(values)) return refuse('not_covered', `signature-input ${values.error.slice(0, 200)}`, keyId);
    upvest.push(`${quote(name)}: ${values[0]}`);
    asSent.push(`${quote(name)}: ${values[values.length - 1]}`);
  }
  const tail = `${quote('@signature-params')}: ${input.paramsText}`;
  const bases = [[...upvest, tail].join('\n')];
  const alternative = [...asSent, tail].join('\n');
  if (alternative !== bases[0]) bases.push(alternative);
  return { keyId, created, bases, signature, coversDigest };
}

/** With the body read and the key found: the digests against the raw bytes, then the signature. */
export function checkBody(head: CheckedHead, request: ArrivedRequest, key: KeyObject): SignatureVerdict {
  if (request.body.length > 0 && !head.coversDigest) {
    return refuse('not_covered', 'signature-input covers neither digest nor content-digest of the body', head.keyId);
  }
  const digestProblem = checkDigests(request);
  if (digestProblem) return refuse('digest_mismatch', digestProblem, head.keyId);
  const ok = head.bases.some((base) => verifiesP521(key, Buffer.from(base, 'utf8'), head.signature));
  if (!ok) return refuse('bad_signature', 'signature does not verify', head.keyId);
  return { ok: true, keyId: head.keyId, created: head.created };
}

interface Params {
  keyId: string;
  created: number;
  expires: number | undefined;
  alg: string | undefined;
}

function readParams(params: ReadonlyMap<string, BareItem>): Params | string {
  const keyId = params.get('keyid');
  if (typeof keyId !== 'string' || keyId === '') return 'signature-input has no keyid string parameter';
  const created = params.get('created');
  if (!isInteger(created)) return 'signature-input has no integer created parameter';
  const expires = params.get('expires');
  if (expires !== undefined && !isInteger(expires)) return 'signature-input expires must be an integer';
  const nonce = params.get('nonce');
  if (nonce !== undefined && typeof nonce !== 'string') return 'signature-input nonce must be a string';
  const alg = params.get('alg');
  if (alg !== undefined && typeof alg !== 'string') return 'signature-input alg must be a string';
  return { keyId, created, expires, alg };
}

function isInteger(value: BareItem | undefined): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

const DIGESTS: Record<string, 'sha256' | 'sha512'> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

/**
 * Every digest the request carries must match the raw body: v6's `digest: SHA-256=<base64>`
 * (RFC 3230, algorithm names in any case, several separated by commas) and v15's
 * `content-digest: sha-512=:<base64>:`. Unknown algorithms are skipped, but each header
 * needs one we can check.
 */
function checkDigests(request: ArrivedRequest): string | undefined {
  const digest = headerValue(request, 'digest');
  if (digest !== undefined) {
    let checked = 0;
    for (const part of digest.split(',')) {
      const at = part.indexOf('=');
      const algorithm = DIGESTS[part.slice(0, at).trim().toLowerCase()];
      if (at < 0 || algorithm === undefined) continue;
      const expected = createHash(algorithm).update(request.body).digest('base64');
      if (part.slice(at + 1).trim() !== expected) return 'digest does not match the body';
      checked++;
    }
    if (checked === 0) return `digest has no SHA-256 or SHA-512 value ("${digest.slice(0, 64)}")`;
  }
  const contentDigest = headerValue(request, 'content-digest');
  if (contentDigest !== undefined) {
    let members: Map<string, Buffer>;
    try {
      members = parseContentDigest(contentDigest);
    } catch (error) {
      return `malformed content-digest: ${(error as Error).message.slice(0, 200)}`;
    }
    let checked = 0;
    for (const [name, bytes] of members) {
      const algorithm = DIGESTS[name];
      if (algorithm === undefined) continue;
      if (!createHash(algorithm).update(request.body).digest().equals(bytes)) return 'content-digest does not match the body';
      checked++;
    }
    if (checked === 0) return 'content-digest has no sha-256 or sha-512 value';
  }
  if (request.body.length > 0 && digest === undefined && contentDigest === undefined) return 'the body has no digest header';
  return undefined;
}

/** ECDSA P-521 over SHA-512; the signature DER-encoded (Upvest's signer) or raw r||s. */
export function verifiesP521(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  const attempt = (dsaEncoding: 'der' | 'ieee-p1363') => {
    try {
      return verify('sha512', data, { key, dsaEncoding }, signature);
    } catch {
      return false;
    }
  };
  return attempt('der') || (signature.length === RAW_P521_LENGTH && attempt('ieee-p1363'));
}
