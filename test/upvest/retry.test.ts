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

describe('the shared request budget', () => {
  function fakeTime(maxRate?: number) {
    const clock = { t: 0 };
    const gate = new RequestGate({
      now: () => clock.t,
      sleep: async (ms) => {
        clock.t += ms;
      },
      maxRate,
    });
    return { clock, gate };
  }

  it('is unlimited until the server throttles, then paces every request at a cut of what it let through', async () => {
    const { clock, gate } = fakeTime();
    for (let i = 0; i < 10; i += 1) {
      await gate.wait();
      gate.onSuccess();
      clock.t += 50; // ten successful requests in half a second
    }
    expect(gate.currentRate).toBe(Infinity);
    gate.onThrottled(clock.t - 10);
    expect(gate.currentRate).toBeCloseTo(10 * RequestGate.DECREASE, 10);
    const starts: number[] = [];
    for (let i = 0; i < 4; i += 1) starts.push(await gate.wait());
    const spacing = 1000 / (10 * RequestGate.DECREASE);
    for (const [i, t] of starts.slice(1).entries()) expect(t - starts[i]!).toBeCloseTo(spacing, 6);
  });

  it('does not guess a rate from a 429 when nothing has got through yet', async () => {
    const { clock, gate } = fakeTime();
    gate.onThrottled(await gate.wait());
    expect(gate.currentRate).toBe(Infinity);
    expect(clock.t).toBe(0);
  });

  it('cuts once per round: further 429s for requests sent before the cut do not cut again', async () => {
    const { clock, gate } = fakeTime();
    const sent: number[] = [];
    for (let i = 0; i < 20; i += 1) {
      sent.push(await gate.wait());
      gate.onSuccess();
      clock.t += 25;
    }
    gate.onThrottled(sent[19]!);
    const afterFirstCut = gate.currentRate;
    expect(afterFirstCut).toBeCloseTo(20 * RequestGate.DECREASE, 10);
    for (const startedAt of sent.slice(15)) gate.onThrottled(startedAt);
    expect(gate.currentRate).toBe(afterFirstCut);
    const later = await gate.wait();
    gate.onThrottled(later);
    expect(gate.currentRate).toBeLessThan(afterFirstCut);
  });

  it('climbs back after a cut, never above its configured maximum', async () => {
    const { gate } = fakeTime(20);
    expect(gate.currentRate).toBe(20);
    gate.onSuccess();
    gate.onThrottled(0);
    expect(gate.currentRate).toBeCloseTo(RequestGate.DECREASE, 10); // one success in the last second
    for (let i = 0; i < 10_000; i += 1) gate.onSuccess();
    expect(gate.currentRate).toBe(20);
  });
});
