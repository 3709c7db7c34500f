// A test-only signer written from the API notes, independent of src/upvest/signing.ts, so the
// simulator's verifier is checked against a second reading of the spec. Every knob a defect
// test needs (window, nonce, covered list, tampering) is an option.
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface SignInput {
  method: string;
  path: string;
  /** Raw query without "?"; omitted or '' when there is none. */
  query?: string;
  /** Lower-case names; must hold every covered header except the ones computed here. */
  headers: Record<string, string>;
  body?: Buffer;
  key: KeyObject;
  keyId: string;
  /** Unix seconds; default now. */
  created?: number;
  expires?: number;
  nonce?: string;
  alg?: string;
  /** Covered components in order; default @method @path [@query] and every header given. */
  components?: string[];
  /** Which signature parameters to send, in this order; default alg (if given), keyid, created, expires, nonce. */
  paramOrder?: Array<'alg' | 'keyid' | 'created' | 'expires' | 'nonce'>;
  /** Signs this instead of the real base (a signature that does not match the request). */
  tamperBase?: (base: string) => string;
}

export function sha512Digest(body: Buffer): string {
  return `sha-512=:${createHash('sha512').update(body).digest('base64')}:`;
}

/** The headers to send: the given ones plus content-digest/length and the signature pair. */
export function signRequest(input: SignInput): Record<string, string> {
  const headers: Record<string, string> = { 'upvest-signature-version': '15', ...input.headers };
  if (input.body !== undefined && input.body.length > 0) {
    headers['content-length'] ??= String(input.body.length);
    headers['content-digest'] ??= sha512Digest(input.body);
  }
  const components =
    input.components ??
    [
      '@method',
      '@path',
      ...(input.query ? ['@query'] : []),
      ...Object.keys(headers).filter((h) => h !== 'upvest-signature-version'),
    ];
  const created = input.created ?? Math.floor(Date.now() / 1000);
  const expires = input.expires ?? created + 30;
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  const values = { alg: `"${input.alg}"`, keyid: `"${input.keyId}"`, created: String(created), expires: String(expires), nonce: `"${nonce}"` };
  const order = input.paramOrder ?? [...(input.alg ? (['alg'] as const) : []), 'keyid', 'created', 'expires', 'nonce'];
  const params = `(${components.map((c) => `"${c}"`).join(' ')})${order.map((name) => `;${name}=${values[name]}`).join('')}`;

  const lines = components.map((c) => `"${c}": ${componentValue(c, input, headers)}`);
  lines.push(`"@signature-params": ${params}`);
  let base = lines.join('\n');
  if (input.tamperBase) base = input.tamperBase(base);

  const data = Buffer.from(base, 'utf8');
  const signature =
    input.key.asymmetricKeyType === 'ed25519'
      ? sign(null, data, input.key)
      : sign('sha512', data, { key: input.key, dsaEncoding: 'der' });
  headers['signature-input'] = `sig1=${params}`;
  headers.signature = `sig1=:${signature.toString('base64')}:`;
  return headers;
}

function componentValue(component: string, input: SignInput, headers: Record<string, string>): string {
  if (component === '@method') return input.method.toUpperCase();
  if (component === '@path') return input.path;
  if (component === '@query') return `?${input.query ?? ''}`;
  return headers[component] ?? '';
}
