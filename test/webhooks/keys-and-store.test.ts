// The verification-key cache (single flight, minimum interval, old keys kept, failures
// surfaced) with an in-process key source, the retry schedule, and the event table's
// claim/mark interface against the real database.
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { retryDelayUnits } from '../../src/simulator/webhook-delivery.js';
import type { VerifyKey } from '../../src/upvest/webhooks-api.js';
import { parseEnvelope, splitTimestamp } from '../../src/webhooks/envelope.js';
import { claimPendingEvents, markEvents, storeDelivery } from '../../src/webhooks/event-store.js';
import { VerifyKeyCache } from '../../src/webhooks/verify-keys.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

function jwk(kid: string): VerifyKey {
  const { x, y } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey.export({ format: 'jwk' });
  return { kid, kty: 'EC', crv: 'P-521', x, y };
}

describe('verification key cache', () => {
  const policy = { minRefetchIntervalMs: 1_000, maxUnknownFetchesPerMinute: 4, withdrawnGraceMs: 300_000, logger: silentLogger() };

  it('shares one fetch among concurrent lookups, and fetches for an unknown key id once the last fetch is a second old', async () => {
    let clock = 0;
    let served = [jwk('A1B2C3D4-0000-4000-8000-000000000001')];
    let release!: () => void;
    const calls: number[] = [];
    const cache = new VerifyKeyCache({
      ...policy,
      fetchKeys: async () => {
        calls.push(clock);
        await new Promise<void>((resolve) => (release = resolve));
        return served;
      },
      now: () => clock,
    });
    const lookups = [cache.get('a1b2c3d4-0000-4000-8000-000000000001'), cache.get('a1b2c3d4-0000-4000-8000-000000000001'), cache.get('unknown')];
    await Promise.resolve();
    release();
    const [first, second, unknown] = await Promise.all(lookups);
    const key = (v: Awaited<(typeof lookups)[number]>) => (v && 'key' in v ? v.key : undefined);
    expect([key(first)?.asymmetricKeyDetails?.namedCurve, key(first) === key(second), unknown, calls]).toEqual(['secp521r1', true, undefined, [0]]);

    // Rotated: a new key listed beside the old one. Within a second of the last fetch the new
    // key id is refused without a fetch; a second later it is fetched and found.
    served = [...served, jwk('b0000000-0000-4000-8000-000000000002')];
    clock = 999;
    expect(await cache.get('b0000000-0000-4000-8000-000000000002')).toBeUndefined();
    clock = 1_000;
    const rotated = cache.get('b0000000-0000-4000-8000-000000000002');
    await Promise.resolve();
    release();
    expect(key(await rotated)?.type).toBe('public');
    expect(calls).toEqual([0, 1_000]);
    expect(key(await cache.get('a1b2c3d4-0000-4000-8000-000000000001'))).toBe(key(first));
    expect([cache.fetches, cache.size]).toEqual([2, 2]);
  });

  it('fetches for forged key ids at most four times a minute, however many come', async () => {
    let clock = 0;
    const calls: number[] = [];
    const cache = new VerifyKeyCache({ ...policy, fetchKeys: async () => (calls.push(clock), [jwk('c0000000-0000-4000-8000-000000000003')]), now: () => clock });
    // 1,000 forged key ids spread over a minute (one every 60 ms), then the next minute begins.
    for (let i = 0; i < 1_000; i++, clock += 60) expect(await cache.get(`forged-${i}`)).toBeUndefined();
    expect(calls).toEqual([0, 1_020, 2_040, 3_060]);
    expect(await cache.get('forged-next-minute')).toBeUndefined();
    expect(calls).toEqual([0, 1_020, 2_040, 3_060, 60_000]);
  });

  it('trusts a key Upvest stopped listing for the grace period, then refuses it as withdrawn', async () => {
    let clock = 0;
    const old = jwk('d0000000-0000-4000-8000-000000000004');
    const next = jwk('e0000000-0000-4000-8000-000000000005');
    let served = [old];
    const cache = new VerifyKeyCache({ ...policy, fetchKeys: async () => served, now: () => clock });
    await cache.refresh();
    served = [next];
    clock = 10_000;
    await cache.refresh(); // the first fetch without the old key
    clock = 10_000 + 299_999;
    expect(await cache.get(old.kid)).toMatchObject({ key: expect.anything() });
    clock = 10_000 + 300_000;
    expect(await cache.get(old.kid)).toEqual({ withdrawn: true });
    expect(cache.size).toBe(1);
    // Listed again: trusted again.
    served = [old, next];
    clock += 60_000;
    await cache.refresh();
    expect(await cache.get(old.kid)).toMatchObject({ key: expect.anything() });
    // A failed fetch withdraws nothing: while Upvest cannot be reached, the keys are kept.
    served = [];
    const failing = new VerifyKeyCache({
      ...policy,
      fetchKeys: async () => {
        if (served.length === 0) throw new Error('connect ECONNREFUSED');
        return served;
      },
      now: () => clock,
    });
    served = [old];
    await failing.refresh();
    served = [];
    clock += 3_600_000;
    await expect(failing.refresh()).rejects.toMatchObject({ code: 'WEBHOOK_KEYS_UNAVAILABLE' });
    expect(await failing.get(old.kid)).toMatchObject({ key: expect.anything() });
  });

  it('reports a failed fetch as WEBHOOK_KEYS_UNAVAILABLE and skips keys it cannot use', async () => {
    let fail = true;
    const cache = new VerifyKeyCache({
      ...policy,
      minRefetchIntervalMs: 0,
      fetchKeys: async () => {
        if (fail) throw new Error('connect ECONNREFUSED');
        return [{ kid: 'rsa', kty: 'RSA' }, jwk('c0000000-0000-4000-8000-000000000003')];
      },
    });
    await expect(cache.get('c0000000-0000-4000-8000-000000000003')).rejects.toMatchObject({
      code: 'WEBHOOK_KEYS_UNAVAILABLE',
      message: "cannot fetch Upvest's webhook verification keys: connect ECONNREFUSED",
    });
    fail = false;
    expect(await cache.get('c0000000-0000-4000-8000-000000000003')).toMatchObject({ key: { type: 'public' } });
    expect([cache.size, await cache.get('rsa')]).toEqual([1, undefined]);
  });

  it('does not call a key id unknown while the last fetch failed and the next may not start yet (503, not 401)', async () => {
    // Found by the soak: a receiver whose start-up fetch failed refused every delivery as
    // "unknown keyid" (401) for a minute, though it had never seen Upvest's keys.
    let clock = 0;
    let fail = true;
    const calls: number[] = [];
    const kid = 'd0000000-0000-4000-8000-000000000004';
    const cache = new VerifyKeyCache({
      ...policy,
      fetchKeys: async () => {
        calls.push(clock);
        if (fail) throw new Error('HTTP 503 Service Unavailable');
        return [jwk(kid)];
      },
      now: () => clock,
    });
    await expect(cache.refresh()).rejects.toMatchObject({ code: 'WEBHOOK_KEYS_UNAVAILABLE' });
    fail = false;
    clock = 500;
    await expect(cache.get(kid)).rejects.toMatchObject({
      code: 'WEBHOOK_KEYS_UNAVAILABLE',
      message: expect.stringContaining("cannot fetch Upvest's webhook verification keys: HTTP 503 Service Unavailable"),
    });
    expect(calls).toEqual([0]);
    clock = 1_000;
    expect(await cache.get(kid)).toMatchObject({ key: { type: 'public' } });
    // Keys fetched: a key id outside them is unknown, and the interval holds as before.
    clock = 1_500;
    expect(await cache.get('e0000000-0000-4000-8000-000000000005')).toBeUndefined();
    expect(calls).toEqual([0, 1_000]);
  });
});

describe('retry schedule', () => {
  it('waits 1, 2, 3, 5, 8 … time units, capped at 600, without end', () => {
    expect(Array.from({ length: 16 }, (_, k) => retryDelayUnits(k + 1))).toEqual([1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 600, 600, 600]);
  });
});

describe('webhook_events', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  beforeAll(async () => {
    db = await createTestDatabase('webhook_events');
    prisma = createPrisma(db.url, { poolSize: 4 });
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const event = (id: string, createdAt: string, type = 'ACCOUNT.UPDATED') =>
    ({ id, created_at: createdAt, type, object: { id: 'acc-1' }, webhook_id: 'w1' });
  const body = (...events: unknown[]) => Buffer.from(JSON.stringify({ payload: events }));

  it('splits created_at into microseconds and the nanoseconds beyond', () => {
    expect(splitTimestamp('2021-11-19T13:06:51.980159529Z')).toEqual({ micros: '2021-11-19T13:06:51.980159Z', nanos: 529 });
    expect(splitTimestamp('2021-07-21T14:10:00.00Z')).toEqual({ micros: '2021-07-21T14:10:00.000000Z', nanos: 0 });
    expect(splitTimestamp('2021-07-21T16:10:00.5+02:00')).toEqual({ micros: '2021-07-21T16:10:00.500000+02:00', nanos: 0 });
    for (const bad of ['2021-07-21 14:10:00', '2021-02-29T00:00:00Z', '2021-04-31T00:00:00Z', '2021-07-21T24:00:00Z', '0000-01-01T00:00:00Z', '2021-07-21T10:00:00+16:00']) {
      expect([bad, splitTimestamp(bad)]).toEqual([bad, null]);
    }
    expect(splitTimestamp('2024-02-29T23:59:59Z')).toEqual({ micros: '2024-02-29T23:59:59.000000Z', nanos: 0 });
  });

  it('claims pending events oldest first to the nanosecond, skipping locked ones, and records outcomes', async () => {
    const at = new Date('2026-11-30T10:00:00Z');
    const e1 = '00000000-0000-4000-8000-000000000001';
    const e2 = '00000000-0000-4000-8000-000000000002';
    const e3 = '00000000-0000-4000-8000-000000000003';
    await storeDelivery(prisma, parseEnvelope(body(event(e2, '2021-11-19T13:06:51.980159529Z'), event(e1, '2021-11-19T13:06:51.980159528Z'))), { keyId: 'k', receivedAt: at });
    const again = await storeDelivery(prisma, parseEnvelope(body(event(e3, '2021-11-19T13:06:51.98Z'), event(e1, '2021-11-19T13:06:51.980159528Z'), 'junk')), { keyId: 'k', receivedAt: at });
    expect(again).toEqual({ stored: 2, redelivered: 1, rejected: 1 });

    const held = await prisma.$transaction(async (tx) => {
      const first = await claimPendingEvents(tx, 1);
      // Another applier meanwhile gets the next one, not the one held here.
      const other = await prisma.$transaction((tx2) => claimPendingEvents(tx2, 5));
      await markEvents(tx, first.map((e) => ({ seq: e.seq, outcome: 'applied' })), at);
      return [first.map((e) => [e.eventId, e.createdAt, e.deliveries]), other.map((e) => e.eventId)];
    });
    expect(held).toEqual([
      [[e3, '2021-11-19T13:06:51.98Z', 1]],
      [e1, e2],
    ]);
    const rows = await prisma.$queryRaw<Array<{ event_id: string | null; outcome: string | null; reason: string | null; deliveries: number }>>`
      SELECT event_id::text, outcome, reason, deliveries FROM webhook_events ORDER BY created_at NULLS FIRST, created_at_nanos, seq`;
    expect(rows).toEqual([
      { event_id: null, outcome: 'rejected', reason: 'the event is not a JSON object', deliveries: 1 },
      { event_id: e3, outcome: 'applied', reason: null, deliveries: 1 },
      { event_id: e1, outcome: null, reason: null, deliveries: 2 },
      { event_id: e2, outcome: null, reason: null, deliveries: 1 },
    ]);
  });

  it('keeps a signed body that is no envelope as one rejected row, counted when it comes again', async () => {
    const at = new Date('2026-11-30T11:00:00Z');
    expect(await storeDelivery(prisma, parseEnvelope(Buffer.from('not json')), { keyId: 'k', receivedAt: at })).toEqual({ stored: 1, redelivered: 0, rejected: 1 });
    expect(await storeDelivery(prisma, parseEnvelope(Buffer.from('not json')), { keyId: 'k', receivedAt: at })).toEqual({ stored: 0, redelivered: 1, rejected: 0 });
    const rows = await prisma.$queryRaw<Array<{ raw: unknown; reason: string; deliveries: number }>>`
      SELECT raw, reason, deliveries FROM webhook_events WHERE dedupe_key LIKE 'body-sha256:%'`;
    expect(rows).toEqual([{ raw: 'not json', reason: 'the body is not JSON', deliveries: 2 }]);
  });

  it('stores what PostgreSQL could not hold as sent (NUL, lone surrogates, impossible dates, huge ids) instead of failing the delivery', async () => {
    const at = new Date('2026-11-30T12:00:00Z');
    const id = '00000000-0000-4000-8000-0000000000aa';
    const events = [
      { id, created_at: '2021-02-30T00:00:00Z', type: 'ACCOUNT.UPDATED\u0000', object: { id: 'x'.repeat(5_000), ['k\ud800']: 'v\udc00' }, webhook_id: 'w\u0000' },
    ];
    expect(await storeDelivery(prisma, parseEnvelope(body(...events)), { keyId: 'k', receivedAt: at })).toEqual({ stored: 1, redelivered: 0, rejected: 1 });
    const [row] = await prisma.$queryRaw<Array<{ type: string; webhook_id: string; object_id: string | null; reason: string; key: string }>>`
      SELECT type, webhook_id, object_id, reason, (SELECT k FROM jsonb_object_keys(raw->'object') AS k WHERE k LIKE 'k%') AS key
      FROM webhook_events WHERE event_id = ${id}::uuid`;
    expect(row).toEqual({
      type: 'ACCOUNT.UPDATED\ufffd',
      webhook_id: 'w\ufffd',
      object_id: null,
      reason: `the event's created_at is not an RFC 3339 date-time ("2021-02-30T00:00:00Z")`,
      key: 'k\ufffd',
    });
  });
});

