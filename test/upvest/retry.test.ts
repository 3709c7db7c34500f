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

  it('is unlimited until the server throttles, then paces every request just under the rate its successes came at', async () => {
    const { clock, gate } = fakeTime();
    for (let i = 0; i < 10; i += 1) {
      await gate.wait();
      gate.onSuccess();
      clock.t += 50; // successes 50 ms apart: the server lets 20 a second through
    }
    expect(gate.currentRate).toBe(Infinity);
    gate.onThrottled(clock.t - 10);
    expect(gate.currentRate).toBeCloseTo(20 * RequestGate.DECREASE, 10);
    const starts: number[] = [];
    for (let i = 0; i < 4; i += 1) starts.push(await gate.wait());
    const spacing = 1000 / (20 * RequestGate.DECREASE);
    for (const [i, t] of starts.slice(1).entries()) expect(t - starts[i]!).toBeCloseTo(spacing, 6);
  });

  it('finds the limit by slow start when too little got through to tell: doubling every 100 ms until the next 429', async () => {
    const { clock, gate } = fakeTime();
    gate.onThrottled(await gate.wait());
    expect(gate.currentRate).toBe(RequestGate.PROBE_RATE);
    const startedAt = clock.t;
    // The server takes every request until the budget passes 100 a second.
    let sent = 0;
    for (;;) {
      const at = await gate.wait();
      sent += 1;
      if (gate.currentRate > 100) {
        gate.onThrottled(at);
        break;
      }
      gate.onSuccess();
    }
    const doublings = Math.log2(100 / RequestGate.PROBE_RATE);
    expect(clock.t - startedAt).toBeGreaterThanOrEqual(doublings * RequestGate.PROBE_DOUBLING_MS * 0.9);
    expect(clock.t - startedAt).toBeLessThanOrEqual((doublings + 2) * RequestGate.PROBE_DOUBLING_MS);
    expect(sent).toBeLessThan(40);
    // Crossing the limit ends slow start: the next 429 cuts by a tenth, not from the probe rate.
    expect(gate.currentRate).toBeGreaterThan(100 * RequestGate.DECREASE);
    expect(gate.currentRate).toBeLessThanOrEqual(110 * RequestGate.DECREASE);
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
    expect(afterFirstCut).toBeCloseTo(40 * RequestGate.DECREASE, 10);
    for (const startedAt of sent.slice(15)) gate.onThrottled(startedAt);
    expect(gate.currentRate).toBe(afterFirstCut);
    const later = await gate.wait();
    gate.onThrottled(later);
    expect(gate.currentRate).toBeCloseTo(afterFirstCut * RequestGate.DECREASE, 10);
  });

  it('gives a waiter the spacing of the rate when its turn comes, not of the rate when it began to wait', async () => {
    const { clock, gate } = fakeTime(10);
    await gate.wait(); // t = 0; the next slot is 100 ms away at 10 a second
    const waiting = gate.wait();
    // Successes while it waits raise the rate; its turn is still the slot already spaced.
    for (let i = 0; i < 200; i += 1) gate.onSuccess();
    expect(await waiting).toBe(100);
    const next = await gate.wait();
    expect(next - 100).toBeCloseTo(1000 / gate.currentRate, 6);
    expect(clock.t).toBe(next);
  });

  it('climbs back after a cut, never above its configured maximum', async () => {
    const { gate } = fakeTime(20);
    expect(gate.currentRate).toBe(20);
    gate.onSuccess();
    gate.onThrottled(0);
    expect(gate.currentRate).toBeCloseTo(20 * RequestGate.DECREASE, 10);
    for (let i = 0; i < 10_000; i += 1) gate.onSuccess();
    expect(gate.currentRate).toBe(20);
  });
});
