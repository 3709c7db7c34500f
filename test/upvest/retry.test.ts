import { describe, expect, it } from 'vitest';
import { UpvestError } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/upvest/http.js';
import { isRetryable, RequestGate } from '../../src/upvest/retry.js';

describe('retry decisions', () => {
  it('retries throttling, server trouble and broken transfers, and nothing else', () => {
    const retryable = (code: ConstructorParameters<typeof UpvestError>[0], status?: number) =>
      isRetryable(new UpvestError(code, 'x', { status }));
    expect(retryable('UPVEST_RATE_LIMITED', 429)).toBe(true);
    for (const status of [500, 502, 503, 504]) expect(retryable('UPVEST_SERVER_ERROR', status)).toBe(true);
    expect(retryable('UPVEST_SERVER_ERROR', 501)).toBe(false);
    expect(retryable('UPVEST_NETWORK')).toBe(true);
    expect(retryable('UPVEST_TIMEOUT')).toBe(true);
    expect(retryable('UPVEST_BAD_BODY', 200)).toBe(true);
    for (const code of ['UPVEST_BAD_REQUEST', 'UPVEST_UNAUTHORIZED', 'UPVEST_FORBIDDEN', 'UPVEST_NOT_FOUND', 'UPVEST_NOT_ACCEPTABLE', 'UPVEST_TOKEN_INVALID', 'UPVEST_BAD_ENVELOPE'] as const) {
      expect(retryable(code)).toBe(false);
    }
    expect(isRetryable(new Error('boom'))).toBe(false);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = () => Date.parse('2026-11-27T10:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Fri, 27 Nov 2026 10:00:12 GMT', now)).toBe(12_000);
    expect(parseRetryAfter('Fri, 27 Nov 2026 09:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('holds every request back until the latest hold has passed', async () => {
    let time = 1000;
    const slept: number[] = [];
    const gate = new RequestGate(
      () => time,
      async (ms) => {
        slept.push(ms);
        time += ms;
      },
    );
    await gate.wait();
    expect(slept).toEqual([]);
    gate.holdFor(500);
    gate.holdFor(200); // a shorter hold never shortens a longer one
    await Promise.all([gate.wait(), gate.wait()]);
    expect(time).toBe(1500);
    expect(slept).toEqual([500]);
  });
});
