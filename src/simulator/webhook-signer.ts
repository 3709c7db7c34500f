// Signs webhook requests the way Upvest's published v6 signer does (httpsignature-proxy v1.3.8,
// service/signer): every header the request carries (lower-case names) followed by @method,
// @path, digest and @query when there is one; lines `name: value` with unquoted names; the last
// line `@signature-params: (<quoted names>);keyid="…";created=…;nonce="…";expires=created+60`;
// ECDSA P-521 over SHA-512, ASN.1 DER, standard base64; `digest: SHA-256=<base64>`.
import { createHash, randomInt, sign, type KeyObject } from 'node:crypto';

export interface WebhookSigningInput {
  method: string;
  path: string;
  /** Raw query without "?", or undefined. */
  query?: string;
  /** Lower-case names, in the order they are sent and covered. */
  headers: ReadonlyArray<readonly [string, string]>;
  body: Buffer;
  key: KeyObject;
  keyId: string;
  createdS: number;
  nonce?: string;
  encoding?: 'der' | 'ieee-p1363';
}

export function sha256Digest(body: Buffer): string {
  return `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
}

/** The headers to add: digest (for a body), signature-input and signature. */
export function signWebhookRequest(input: WebhookSigningInput): Record<string, string> {
  const lines: Array<[string, string]> = input.headers.map(([name, value]) => [name, value]);
  lines.push(['@method', input.method.toUpperCase()], ['@path', input.path]);
  const added: Record<string, string> = {};
  if (input.body.length > 0) {
    added.digest = sha256Digest(input.body);
    lines.push(['digest', added.digest]);
  }
  if (input.query) lines.push(['@query', `?${input.query}`]);
  const nonce = input.nonce ?? String(randomInt(0, 10_000_000_000)).padStart(10, '0');
  const names = lines.map(([name]) => JSON.stringify(name)).join(' ');
  const params = `(${names});keyid=${JSON.stringify(input.keyId)};created=${input.createdS};nonce=${JSON.stringify(nonce)};expires=${input.createdS + 60}`;
  const base = [...lines.map(([name, value]) => `${name}: ${value}`), `@signature-params: ${params}`].join('\n');
  const signature = sign('sha512', Buffer.from(base, 'utf8'), { key: input.key, dsaEncoding: input.encoding ?? 'der' });
  return { ...added, 'signature-input': `sig1=${params}`, signature: `sig1=:${signature.toString('base64')}:` };
}
