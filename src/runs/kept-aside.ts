// A record kept aside in rejected_records, as JSON text that PostgreSQL's jsonb always accepts.
// Keeping a record aside must never throw, whatever Upvest sent: JSON.stringify overflows the
// stack on a record nested a few thousand levels deep, and jsonb refuses NUL and unpaired
// surrogates. So the record is written out by a serializer of our own, bounded in depth and in
// size, lossless whenever it fits within both bounds.

/** Largest JSON text kept of one record; a longer one is cut (and flagged). */
export const KEPT_ASIDE_MAX_BYTES = 64 * 1024;
/** Deepest nesting kept; deeper values are replaced by a marker (and flagged). */
export const KEPT_ASIDE_MAX_DEPTH = 64;

export const TOO_DEEP_MARKER = `[truncated: nested deeper than ${KEPT_ASIDE_MAX_DEPTH} levels]`;

export interface KeptAsideJson {
  /** JSON text for a jsonb parameter. */
  json: string;
  /** Whether part of the record was left out (too large or too deep). */
  truncated: boolean;
}

class TooLarge extends Error {}

/**
 * The record as JSON text. Characters jsonb cannot hold are written as their escape text, so
 * `"a\u0000b"` is stored as the six characters `\u0000` between a and b, and an unpaired
 * surrogate the same way: the stored value still shows exactly what was sent.
 */
export function keptAsideJson(
  value: unknown,
  limits: { maxBytes?: number; maxDepth?: number } = {},
): KeptAsideJson {
  const maxBytes = limits.maxBytes ?? KEPT_ASIDE_MAX_BYTES;
  const maxDepth = limits.maxDepth ?? KEPT_ASIDE_MAX_DEPTH;
  const parts: string[] = [];
  let length = 0;
  let truncated = false;
  const emit = (text: string) => {
    if (length + text.length > maxBytes) {
      parts.push(text.slice(0, maxBytes - length));
      throw new TooLarge();
    }
    length += text.length;
    parts.push(text);
  };
  const write = (v: unknown, depth: number): void => {
    if (v === null || v === undefined || typeof v === 'function' || typeof v === 'symbol') return emit('null');
    if (typeof v === 'string') return emit(jsonbString(v));
    if (typeof v === 'number') return emit(Number.isFinite(v) ? String(v) : 'null');
    if (typeof v === 'boolean') return emit(v ? 'true' : 'false');
    if (typeof v === 'bigint') return emit(v.toString());
    if (depth >= maxDepth) {
      truncated = true;
      return emit(jsonbString(TOO_DEEP_MARKER));
    }
    if (Array.isArray(v)) {
      emit('[');
      v.forEach((item, i) => {
        if (i > 0) emit(',');
        write(item, depth + 1);
      });
      return emit(']');
    }
    emit('{');
    let first = true;
    for (const [key, item] of Object.entries(v as Record<string, unknown>)) {
      if (item === undefined) continue;
      if (!first) emit(',');
      first = false;
      emit(jsonbString(key));
      emit(':');
      write(item, depth + 1);
    }
    emit('}');
  };
  try {
    write(value, 0);
    return { json: parts.join(''), truncated };
  } catch (error) {
    if (!(error instanceof TooLarge)) throw error;
    // Too large: keep the beginning of its JSON text, as a JSON string.
    const prefix = parts.join('').slice(0, Math.max(0, maxBytes - 64));
    return { json: jsonbString(prefix), truncated: true };
  }
}

/**
 * A JSON string literal jsonb accepts. JSON.stringify writes NUL as \u0000 and an unpaired
 * surrogate as \udXXX (a well-formed pair stays as the character itself); jsonb refuses both
 * escapes, so their backslash is doubled and the escape is kept as text.
 */
export function jsonbString(value: string): string {
  return JSON.stringify(value).replace(/(?<!\\)((?:\\\\)*)\\u(0000|d[89a-f][0-9a-f]{2})/gi, '$1\\\\u$2');
}
