// JSON written by hand for the mirror's statement parameters, kept in one byte per character.

/**
 * A JSON string literal in one byte per character: V8 stores a whole string in two bytes per
 * character as soon as one character is beyond Latin-1 (an en dash in one name), so those are
 * written as \u escapes, which PostgreSQL reads back as the same text.
 */
export function jsonStringLiteral(value: string): string {
  const literal = JSON.stringify(value);
  return BEYOND_LATIN1.test(literal) ? literal.replace(BEYOND_LATIN1_ALL, escapeCodeUnit) : literal;
}
const BEYOND_LATIN1 = /[\u0100-\uffff]/;
const BEYOND_LATIN1_ALL = /[\u0100-\uffff]/g;
const escapeCodeUnit = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * JSON text (unknown fields, as JSON.stringify wrote them) in one byte per character, as
 * jsonStringLiteral: beyond Latin-1, characters can only be inside strings, where \u escapes
 * mean the same. null for none.
 */
export function jsonText(text: string | null): string {
  if (text === null) return 'null';
  return BEYOND_LATIN1.test(text) ? text.replace(BEYOND_LATIN1_ALL, escapeCodeUnit) : text;
}
