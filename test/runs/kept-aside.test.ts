import { describe, expect, it } from 'vitest';
import { keptAsideJson, KEPT_ASIDE_MAX_BYTES, TOO_DEEP_MARKER } from '../../src/runs/kept-aside.js';

function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('keeping a record aside', () => {
  it('writes a record that fits losslessly, exactly as JSON.stringify would', () => {
    const record = { id: 'x', n: 1.5, list: [true, null, { q: '"\\' }], astral: '😀', combining: 'e\u0301' };
    expect(keptAsideJson(record)).toEqual({ json: JSON.stringify(record), truncated: false });
  });

  it('writes NUL and unpaired surrogates as escape text jsonb accepts', () => {
    expect(keptAsideJson({ name: 'a\u0000b\ud800c\udfffd' })).toEqual({
      json: '{"name":"a\\\\u0000b\\\\ud800c\\\\udfffd"}',
      truncated: false,
    });
    // An escaped backslash before "u0000" is text already, and stays as it is.
    expect(keptAsideJson('\\u0000').json).toBe(JSON.stringify('\\u0000'));
  });

  it('never throws on a record nested ten thousand levels deep: the deep part is replaced and flagged', () => {
    const kept = keptAsideJson({ id: 'deep', name: nested(10_000) });
    expect(kept.truncated).toBe(true);
    expect(kept.json).toBe(`{"id":"deep","name":${'['.repeat(63)}${JSON.stringify(TOO_DEEP_MARKER)}${']'.repeat(63)}}`);
    expect(() => JSON.parse(kept.json)).not.toThrow();
  });

  it('keeps the beginning of a record larger than the bound, as a JSON string, and flags it', () => {
    const kept = keptAsideJson({ id: 'big', name: 'x'.repeat(200_000) });
    expect(kept.truncated).toBe(true);
    const text = JSON.parse(kept.json) as string;
    expect(typeof text).toBe('string');
    expect(text.startsWith('{"id":"big","name":"xxx')).toBe(true);
    expect(text.length).toBe(KEPT_ASIDE_MAX_BYTES - 64);
  });
});
