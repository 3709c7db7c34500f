// Reading the structured header fields of HTTP message signatures (signature-input, signature,
// content-digest) with the `structured-headers` package (RFC 8941/9651). One reader for both
// the simulator's v15 verifier and the webhook receiver's v6 verifier.
import { parseDictionary, serializeInnerList, Token, type BareItem, type InnerList, type Item } from 'structured-headers';

export { Token };
export type { BareItem };

export class SignatureFieldError extends Error {}

export interface SignatureInput {
  /** The dictionary key, e.g. sig1. */
  label: string;
  /** Covered component names in the order given. */
  components: string[];
  params: ReadonlyMap<string, BareItem>;
  /**
   * The member's value exactly as received after "label=", as @signature-params needs it.
   * structured-headers does not report positions, so a member that shares its header with
   * others is taken in canonical form and must occur in that form in the header.
   */
  paramsText: string;
}

/** The first member of a signature-input header, which must be an inner list of strings. */
export function parseSignatureInput(header: string): SignatureInput {
  const dictionary = parse(header, 'signature-input');
  const [label, value] = [...dictionary][0]!;
  if (!isInnerList(value)) throw new SignatureFieldError(`member ${label} is not an inner list`);
  const components: string[] = [];
  for (const [item, params] of value[0]) {
    if (typeof item !== 'string') throw new SignatureFieldError('components must be strings');
    if (params.size > 0) throw new SignatureFieldError(`component parameters are not supported ("${item}")`);
    components.push(item);
  }
  return { label, components, params: value[1], paramsText: memberText(header, label, dictionary.size, value) };
}

function memberText(header: string, label: string, members: number, value: InnerList): string {
  const trimmed = header.trim();
  if (members === 1) return trimmed.slice(label.length + 1);
  const canonical = serializeInnerList(value);
  const at = trimmed.indexOf(`${label}=${canonical}`);
  const boundary = at === 0 || (at > 0 && /[,\s]/.test(trimmed[at - 1]!));
  if (!boundary) throw new SignatureFieldError(`member ${label} is not in canonical form`);
  return canonical;
}

/** The byte sequence under `label` in a signature header. */
export function parseSignatureBytes(header: string, label: string): Buffer {
  const member = parse(header, 'signature').get(label);
  if (member === undefined) throw new SignatureFieldError(`signature header has no ${label} member`);
  const bytes = bytesOf(member);
  if (bytes === undefined) throw new SignatureFieldError(`signature ${label} is not a byte sequence`);
  return bytes;
}

/** content-digest (RFC 9530): algorithm name → digest bytes, for the byte-sequence members. */
export function parseContentDigest(header: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, member] of parse(header, 'content-digest')) {
    const bytes = bytesOf(member);
    if (bytes !== undefined) out.set(name, bytes);
  }
  return out;
}

function parse(header: string, what: string): Map<string, Item | InnerList> {
  let dictionary: Map<string, Item | InnerList>;
  try {
    dictionary = parseDictionary(header);
  } catch (error) {
    throw new SignatureFieldError((error as Error).message);
  }
  if (dictionary.size === 0) throw new SignatureFieldError(`empty ${what}`);
  return dictionary;
}

function isInnerList(value: Item | InnerList): value is InnerList {
  return Array.isArray(value[0]);
}

function bytesOf(member: Item | InnerList): Buffer | undefined {
  if (isInnerList(member)) return undefined;
  const value = member[0];
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}

export function isToken(value: BareItem | undefined): value is Token {
  return value instanceof Token;
}
