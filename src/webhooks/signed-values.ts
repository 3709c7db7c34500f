// The values of covered components as Upvest's v6 signer puts them into the signature base.
// Facts from Upvest's open-source signer (httpsignature-proxy v1.3.8, service/signer/material):
// header names lower case; several values of one header trimmed and joined with ", "; then the
// value is classified by its first characters, and a "plain value" that contains ", " is cut to
// its first element (so `accept: application/json, text/plain` is signed as
// `accept: application/json`). Whether Upvest's webhook sender shares that code is not public,
// so the verifier also accepts the whole value (see alternativeValues).

/** A request as it arrived, with the header lines as sent (node's rawHeaders). */
export interface ArrivedRequest {
  method: string;
  /** The path as sent, without the query. */
  path: string;
  /** The raw query without its "?", or undefined when the target has none. */
  query: string | undefined;
  /** Alternating names and values, as node's IncomingMessage.rawHeaders. */
  rawHeaders: readonly string[];
  body: Buffer;
}

/** Every value of a header, trimmed and joined with ", "; undefined when it was not sent. */
export function headerValue(request: Pick<ArrivedRequest, 'rawHeaders'>, name: string): string | undefined {
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() === name) values.push(request.rawHeaders[i + 1]!.trim());
  }
  return values.length === 0 ? undefined : values.join(', ');
}

const KEY_CHAR = /[a-z0-9_\-.*]/;

/** How Upvest's signer classifies a header value (its getValueType). */
function valueKind(value: string): 'inner-list' | 'list' | 'dictionary' | 'value' {
  if (value.startsWith('(')) return 'inner-list';
  if (value.startsWith('"')) return 'list';
  for (let i = 1; i < value.length; i++) {
    const ch = value[i]!;
    if (ch === '=') return 'dictionary';
    if (ch === ',') return 'list';
    if (!KEY_CHAR.test(ch)) return 'value';
  }
  return 'value';
}

/** Splits at ", " outside double quotes, skipping further spaces (its parseList). */
function splitList(value: string): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    if (quoted) {
      current += ch;
      if (ch === '\\' && i + 1 < value.length) current += value[++i]!;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
      current += ch;
    } else if (ch === ',' && value[i + 1] === ' ') {
      out.push(current);
      current = '';
      while (value[i + 1] === ' ') i++;
    } else {
      current += ch;
    }
  }
  if (current !== '') out.push(current);
  return out;
}

/** The value Upvest's v6 signer signs for a header sent as `value`. */
export function upvestSignedValue(value: string): string {
  if (value === '') return '';
  switch (valueKind(value)) {
    case 'value':
      return splitList(value)[0] ?? '';
    case 'list':
      return splitList(value).join(', ');
    default:
      // Upvest's signer covers these as name:key / name:N members, never by the plain name;
      // a plain name then means another signer, which signs the value as sent.
      return value;
  }
}

/** The value(s) a header component may have been signed with: Upvest's form first. */
export function alternativeValues(value: string): string[] {
  const signed = upvestSignedValue(value);
  return signed === value ? [value] : [signed, value];
}

/** A covered component's possible values, or why it has none. */
export function componentValues(request: Omit<ArrivedRequest, 'body'>, name: string): string[] | { error: string } {
  switch (name) {
    case '@method':
      return [request.method.toUpperCase()];
    case '@path':
      return [request.path];
    case '@query':
      return request.query === undefined ? { error: 'covers @query but the request has no query' } : [`?${request.query}`];
  }
  if (name.startsWith('@')) return { error: `unsupported derived component ${name}` };
  if (name !== name.toLowerCase()) return { error: `component names must be lower case ("${name}")` };
  if (name.includes(':')) return { error: `unsupported component ${name} (member of a structured header)` };
  const value = headerValue(request, name);
  return value === undefined ? { error: `covered header ${name} is missing from the request` } : alternativeValues(value);
}
