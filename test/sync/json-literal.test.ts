import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonStringLiteral } from '../../src/mirror/json-text.js';
import { assertProperty } from '../support/property.js';

describe('the JSON string literals of the write parameters', () => {
  it('read back as the same text and hold no character beyond Latin-1', () => {
    expect(jsonStringLiteral('Siobhán Nørgaard – Kids 🎈')).toBe('"Siobhán Nørgaard \\u2013 Kids \\ud83c\\udf88"');
    assertProperty(
      fc.property(fc.string({ unit: 'grapheme' }), (text) => {
        const literal = jsonStringLiteral(text);
        expect(JSON.parse(literal)).toBe(text);
        expect(/[^\u0000-\u00ff]/.test(literal)).toBe(false);
      }),
      500,
    );
  });
});
