// HTTP message signatures as Upvest verifies them: draft-ietf-httpbis-message-signatures-15,
// ECDSA P-521/SHA-512 (DER) or Ed25519, label sig1, a fresh nonce and window on every request.
import { createHash, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { AccountSyncError } from '../errors.js';

export interface SigningKey {
  keyId: string;
  key: KeyObject;
  /** node:crypto digest name for sign(); null for Ed25519, which hashes internally. */
  digest: 'sha512' | null;
}

export interface KeySource {
  file: string;
  passphrase: string | undefined;
  keyId: string;
}

/** Reads the tenant's private key; errors name the setting to fix, never the key material. */
export function loadSigningKey(source: KeySource): SigningKey {
  let pem: Buffer;
  try {
    pem = readFileSync(source.file);
  } catch (error) {
    throw new AccountSyncError(
      'SIGNING_KEY_INVALID',
      `UPVEST_SIGNING_KEY_FILE: cannot read ${source.file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: error },
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', passphrase: source.passphrase ?? '' });
  } catch (error) {
    const encrypted = pem.includes('ENCRYPTED');
    const hint = encrypted
      ? source.passphrase
        ? 'UPVEST_SIGNING_KEY_PASSPHRASE does not decrypt it'
        : 'it is encrypted: set UPVEST_SIGNING_KEY_PASSPHRASE'
      : 'it is not a PEM private key';
    throw new AccountSyncError('SIGNING_KEY_INVALID', `UPVEST_SIGNING_KEY_FILE: ${source.file}: ${hint}`, {
      cause: error,
    });
  }
  if (key.asymmetricKeyType === 'ed25519') return { keyId: source.keyId, key, digest: null };
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp521r1') {
    return { keyId: source.keyId, key, digest: 'sha512' };
  }
  const kind = key.asymmetricKeyType === 'ec' ? `EC ${key.asymmetricKeyDetails?.namedCurve}` : key.asymmetricKeyType;
  throw new AccountSyncError(
    'SIGNING_KEY_INVALID',
    `UPVEST_SIGNING_KEY_FILE: ${source.file} holds a ${kind} key; Upvest needs EC P-521 (secp521r1) or Ed25519`,
  );
}

/**
 * Why the key file's permissions are too open, if they are: a private key readable by the
 * group or by anyone on the machine is as good as published there.
 */
export function keyFilePermissionWarning(file: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch {
    return undefined; // loadSigningKey says what is wrong with an unreadable file
  }
  if ((mode & 0o077) === 0) return undefined;
  const octal = (mode & 0o777).toString(8).padStart(3, '0');
  return `UPVEST_SIGNING_KEY_FILE ${file} can be read by ${mode & 0o004 ? 'any user' : 'its group'} (mode ${octal}); restrict it with chmod 600`;
}

export interface OutgoingRequest {
  method: string;
  url: URL;
  /** Lower-case names. Must already hold every header to be covered. */
  headers: Record<string, string>;
  body?: Buffer;
}

/** Header components covered when present, in this order, after the derived ones. */
const COVERED_HEADERS = [
  'accept',
  'authorization',
  'upvest-client-id',
  'upvest-api-version',
  'date',
  'idempotency-key',
  'content-type',
  'content-length',
  'content-digest',
] as const;

export function contentDigest(body: Buffer): string {
  return `sha-512=:${createHash('sha512').update(body).digest('base64')}:`;
}

export function signatureBase(components: ReadonlyArray<readonly [string, string]>, signatureParams: string): string {
  return [...components, ['@signature-params', signatureParams] as const]
    .map(([name, value]) => `"${name}": ${value}`)
    .join('\n');
}

export interface SignerOptions {
  key: SigningKey;
  ttlSeconds: number;
  now?: () => number;
  nonce?: () => string;
}

export type Signer = (request: OutgoingRequest) => Promise<Record<string, string>>;

/**
 * ECDSA over P-521 takes about 1.5 ms a signature: done in libuv's thread pool (sign with a
 * callback), it runs beside the event loop instead of holding it for every request.
 */
function signAsync(digest: string | null, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    sign(digest, data, { key, dsaEncoding: 'der' }, (error, signature) => (error ? reject(error) : resolve(signature)));
  });
}

/**
 * Returns the headers to add to a request: date, content-digest and content-length when there
 * is a body, signature-input, signature and upvest-signature-version (itself not covered).
 * Call it again for every attempt: created, expires and the nonce must be fresh each time.
 */
export function createSigner(options: SignerOptions): Signer {
  const now = options.now ?? Date.now;
  const nonce = options.nonce ?? randomUUID;
  return async (request) => {
    const createdMs = Math.floor(now() / 1000) * 1000;
    const created = createdMs / 1000;
    const added: Record<string, string> = { date: new Date(createdMs).toUTCString() };
    if (request.body !== undefined) {
      added['content-length'] = String(request.body.length);
      added['content-digest'] = contentDigest(request.body);
    }
    const headers = { ...request.headers, ...added };
    const components: Array<[string, string]> = [
      ['@method', request.method.toUpperCase()],
      ['@path', request.url.pathname || '/'],
    ];
    if (request.url.search) components.push(['@query', request.url.search]);
    for (const name of COVERED_HEADERS) {
      const value = headers[name];
      if (value !== undefined) components.push([name, value]);
    }
    const list = components.map(([name]) => `"${name}"`).join(' ');
    const params = `(${list});keyid="${options.key.keyId}";created=${created};expires=${created + options.ttlSeconds};nonce="${nonce()}"`;
    const base = signatureBase(components, params);
    const signature = await signAsync(options.key.digest, Buffer.from(base, 'utf8'), options.key.key);
    return {
      ...added,
      'signature-input': `sig1=${params}`,
      signature: `sig1=:${signature.toString('base64')}:`,
      'upvest-signature-version': '15',
    };
  };
}
