// Just enough of RFC 8941 (structured field values) to read signature-input, signature and
// content-digest the way a strict server would. Parsing is hand-written so that errors can say
// precisely what was wrong with the client's header.

export type BareItem = string | number | boolean | Uint8Array | Token;

/** A token (unquoted identifier), kept apart from strings because the two are not equal. */
export class Token {
  constructor(readonly value: string) {}
}

export interface Item {
  value: BareItem;
  params: Map<string, BareItem>;
}

export interface InnerList {
  items: Item[];
  params: Map<string, BareItem>;
}

export interface DictionaryMember {
  value: Item | InnerList;
  /** The member's value exactly as sent (after "label="), as @signature-params needs it. */
  raw: string;
}

export class StructuredFieldError extends Error {}

export function parseDictionary(input: string): Map<string, DictionaryMember> {
  const p = new Parser(input);
  const out = new Map<string, DictionaryMember>();
  p.skipSpaces();
  if (p.done()) throw new StructuredFieldError('empty dictionary');
  for (;;) {
    const key = p.key();
    let member: DictionaryMember;
    if (p.peek() === '=') {
      p.pos++;
      const start = p.pos;
      const value = p.peek() === '(' ? p.innerList() : p.item();
      member = { value, raw: input.slice(start, p.pos) };
    } else {
      member = { value: { value: true, params: p.params() }, raw: '' };
    }
    out.set(key, member);
    p.skipOws();
    if (p.done()) return out;
    p.expect(',');
    p.skipOws();
    if (p.done()) throw new StructuredFieldError('trailing comma');
  }
}

class Parser {
  pos = 0;

  constructor(private readonly s: string) {}

  done(): boolean {
    return this.pos >= this.s.length;
  }

  peek(): string {
    return this.s[this.pos] ?? '';
  }

  expect(ch: string): void {
    if (this.peek() !== ch) throw this.error(`expected "${ch}"`);
    this.pos++;
  }

  error(message: string): StructuredFieldError {
    return new StructuredFieldError(`${message} at position ${this.pos}`);
  }

  skipSpaces(): void {
    while (this.peek() === ' ') this.pos++;
  }

  skipOws(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
  }

  key(): string {
    const match = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.pos));
    if (!match) throw this.error('expected a key');
    this.pos += match[0].length;
    return match[0];
  }

  params(): Map<string, BareItem> {
    const params = new Map<string, BareItem>();
    while (this.peek() === ';') {
      this.pos++;
      this.skipSpaces();
      const key = this.key();
      let value: BareItem = true;
      if (this.peek() === '=') {
        this.pos++;
        value = this.bareItem();
      }
      params.set(key, value);
    }
    return params;
  }

  innerList(): InnerList {
    this.expect('(');
    const items: Item[] = [];
    for (;;) {
      this.skipSpaces();
      if (this.peek() === ')') {
        this.pos++;
        return { items, params: this.params() };
      }
      if (this.done()) throw this.error('unterminated inner list');
      items.push(this.item());
      const next = this.peek();
      if (next !== ' ' && next !== ')') throw this.error('expected a space or ")" in the inner list');
    }
  }

  item(): Item {
    const value = this.bareItem();
    return { value, params: this.params() };
  }

  bareItem(): BareItem {
    const ch = this.peek();
    if (ch === '"') return this.string();
    if (ch === ':') return this.bytes();
    if (ch === '?') return this.boolean();
    if (ch === '-' || (ch >= '0' && ch <= '9')) return this.number();
    if (/[A-Za-z*]/.test(ch)) return this.token();
    throw this.error('expected a value');
  }

  string(): string {
    this.expect('"');
    let out = '';
    for (;;) {
      if (this.done()) throw this.error('unterminated string');
      const ch = this.s[this.pos++]!;
      if (ch === '\\') {
        const escaped = this.s[this.pos++];
        if (escaped !== '"' && escaped !== '\\') throw this.error('bad escape in string');
        out += escaped;
      } else if (ch === '"') {
        return out;
      } else if (ch < ' ' || ch > '~') {
        throw this.error('non-printable character in string');
      } else {
        out += ch;
      }
    }
  }

  bytes(): Uint8Array {
    this.expect(':');
    const end = this.s.indexOf(':', this.pos);
    if (end < 0) throw this.error('unterminated byte sequence');
    const b64 = this.s.slice(this.pos, end);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) throw this.error('byte sequence is not base64');
    this.pos = end + 1;
    return new Uint8Array(Buffer.from(b64, 'base64'));
  }

  boolean(): boolean {
    this.expect('?');
    const ch = this.s[this.pos++];
    if (ch === '1') return true;
    if (ch === '0') return false;
    throw this.error('bad boolean');
  }

  number(): number {
    const match = /^-?\d{1,15}(\.\d{1,3})?/.exec(this.s.slice(this.pos));
    if (!match) throw this.error('bad number');
    this.pos += match[0].length;
    return Number(match[0]);
  }

  token(): Token {
    const match = /^[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*/.exec(this.s.slice(this.pos));
    this.pos += match![0].length;
    return new Token(match![0]);
  }
}
