// The simulator delivering its dataset's changes to the receiver over real HTTP: signed
// batches stored once, refusals of everything that is not Upvest's signature on these exact
// bytes, re-deliveries counted, and Upvest's retry schedule with head-of-line blocking.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import type { DeliveryAttempt } from '../../src/simulator/index.js';
import { startReceiver, type ReceiverOutcome } from '../../src/webhooks/receiver.js';
import { rawRequest } from '../simulator/client-helper.js';
import { startWebhookSetup, storedEvents, type WebhookSetup } from './support.js';

let s: WebhookSetup;

beforeAll(async () => {
  s = await startWebhookSetup('webhook_delivery');
});
afterAll(() => s?.close());
afterEach(async () => {
  s.sim.webhooks.switches.clear();
  s.clock.receiverOffsetS = 0;
  expect(s.sim.webhooks.backlog).toBe(0);
  await s.prisma.$executeRaw`DELETE FROM webhook_events`;
  s.outcomes.length = 0;
  s.sim.webhooks.attempts.length = 0;
});

/** The first delivery of an event about this account that was answered 200. */
const delivered = (accountId: string): Promise<DeliveryAttempt> =>
  s.sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === accountId));

const attemptsFor = (accountId: string) =>
  s.sim.webhooks.attempts.filter((a) => a.events.some((e) => e.objectId === accountId)).map((a) => [a.attempt, a.status, a.switches, a.retryInUnits]);

function pendingAccount(): string {
  const account = s.sim.dataset.list().find((a) => a.status === 'PENDING_APPROVAL' || a.status === 'ACTIVE');
  if (!account) throw new Error('no account left to change');
  return account.id;
}

describe('webhook delivery to the receiver', () => {
  it('stores each event of a signed batch once, raw, with created_at as sent, in created_at order', async () => {
    const b = s.sim.dataset.at(0);
    const [a] = s.sim.dataset.add(1);
    s.sim.dataset.setStatus(a!.id, 'ACTIVE');
    s.sim.dataset.rename(b!.id, 'Holiday savings');
    s.sim.dataset.setStatus(a!.id, 'LOCKED');
    const attempt = await delivered(a!.id);
    expect(attempt.events.map((e) => [e.type, e.objectId])).toEqual([
      ['ACCOUNT.CREATED', a!.id],
      ['ACCOUNT.ACTIVATED', a!.id],
      ['ACCOUNT.UPDATED', b!.id],
      ['ACCOUNT.LOCKED', a!.id],
    ]);
    expect(attempt.events.every((e) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/.test(e.createdAt))).toBe(true);
    expect(await storedEvents(s.prisma)).toEqual(
      attempt.events.map((e) => ({
        event_id: e.id,
        type: e.type,
        object_id: e.objectId,
        created_at_raw: e.createdAt,
        deliveries: 1,
        outcome: null,
        reason: null,
      })),
    );
    const [raw] = await s.prisma.$queryRaw<Array<{ raw: { object: { status: string; name: string }; webhook_id: string } }>>`
      SELECT raw FROM webhook_events WHERE object_id = ${a!.id} ORDER BY seq DESC LIMIT 1`;
    expect(raw!.raw.object).toEqual(s.sim.dataset.get(a!.id));
    expect(raw!.raw.webhook_id).toBe(s.subscriptionId);
    expect(s.outcomes.map((o) => [o.status, o.batch])).toEqual([[200, { stored: 4, redelivered: 0, rejected: 0 }]]);
  });

  it.each([
    ['wrong-key', 'bad_signature'],
    ['unknown-key-id', 'unknown_key'],
    ['tamper-body', 'digest_mismatch'],
  ] as const)('refuses a delivery with switch %s (401 %s), then stores its retry once', async (name, failure) => {
    s.clock.keysMs += 60_000; // the last key fetch is a minimum interval ago
    const fetches = s.keys.fetches;
    s.sim.webhooks.switches.arm(name);
    const id = pendingAccount();
    s.sim.dataset.setStatus(id, 'LOCKED');
    await delivered(id);
    expect(attemptsFor(id)).toEqual([
      [1, 401, [name], 1],
      [2, 200, [], undefined],
    ]);
    expect(s.outcomes.map((o) => [o.status, o.failure])).toEqual([
      [401, failure],
      [200, undefined],
    ]);
    // An unknown keyid makes the receiver fetch Upvest's keys exactly once more.
    expect(s.keys.fetches - fetches).toBe(name === 'unknown-key-id' ? 1 : 0);
    expect((await storedEvents(s.prisma)).map((e) => [e.object_id, e.deliveries])).toEqual([[id, 1]]);
  });

  it('fetches the keys once more for a rotated key, and not again within the minimum interval', async () => {
    s.clock.keysMs += 60_000;
    const fetches = s.keys.fetches;
    s.sim.webhooks.keyring.rotate();
    const first = pendingAccount();
    s.sim.dataset.setStatus(first, 'LOCKED');
    await delivered(first);
    expect(s.keys.fetches - fetches).toBe(1);
    // A forged keyid right after: refused without another fetch.
    s.sim.webhooks.switches.arm('unknown-key-id');
    const second = pendingAccount();
    s.sim.dataset.setStatus(second, 'LOCKED');
    await delivered(second);
    expect(s.keys.fetches - fetches).toBe(1);
    expect(s.outcomes.map((o) => [o.status, o.failure])).toEqual([
      [200, undefined],
      [401, 'unknown_key'],
      [200, undefined],
    ]);
  });

  it('refuses a stale signature: a retry that is not re-signed ages past the limit', async () => {
    s.sim.webhooks.switches.resignRetries = false;
    // Refused (after its headers were checked, fresh), so that it is retried with the same signature.
    s.sim.webhooks.switches.arm('wrong-key');
    const id = pendingAccount();
    s.sim.dataset.setStatus(id, 'LOCKED');
    await s.sim.webhooks.waitFor((a) => a.events.some((e) => e.objectId === id) && a.attempt === 1);
    s.clock.receiverOffsetS = 400; // the retry arrives "400 s" after its signature was made
    await s.sim.webhooks.waitFor((a) => a.events.some((e) => e.objectId === id) && a.attempt === 2);
    s.sim.webhooks.switches.resignRetries = true;
    s.clock.receiverOffsetS = 0;
    await delivered(id);
    expect(attemptsFor(id)).toEqual([
      [1, 401, ['wrong-key'], 1],
      [2, 401, [], 2],
      [3, 200, [], undefined],
    ]);
    expect(s.outcomes.map((o) => [o.status, o.failure])).toEqual([
      [401, 'bad_signature'],
      [401, 'stale'],
      [200, undefined],
    ]);
    expect(s.outcomes[1]!.reason).toMatch(/^signature created 40\d s ago \(limit 300 s\)$/);
  });

  it('stores a re-delivered batch once and counts the deliveries', async () => {
    s.sim.webhooks.switches.arm('duplicate');
    const id = pendingAccount();
    s.sim.dataset.rename(id, 'Twice told');
    const first = await delivered(id);
    const second = await s.sim.webhooks.waitFor((a) => a.status === 200 && a.batch !== first.batch && a.events.some((e) => e.objectId === id));
    expect(second.events).toEqual(first.events);
    expect(s.outcomes.map((o) => o.batch)).toEqual([
      { stored: 1, redelivered: 0, rejected: 0 },
      { stored: 0, redelivered: 1, rejected: 0 },
    ]);
    expect((await storedEvents(s.prisma)).map((e) => [e.event_id, e.deliveries])).toEqual([[first.events[0]!.id, 2]]);
  });

  it('retries at 1, 2, 3, 5 units and holds every later delivery back until the first is answered 200', async () => {
    s.sim.webhooks.switches.arm('wrong-key', 4);
    const first = pendingAccount();
    s.sim.dataset.setStatus(first, 'LOCKED');
    await s.sim.webhooks.waitFor((a) => a.events.some((e) => e.objectId === first) && a.attempt === 2);
    const later = pendingAccount();
    s.sim.dataset.rename(later, 'Queued behind');
    const done = await delivered(later);
    const log = s.sim.webhooks.attempts.map((a) => [a.events.map((e) => e.objectId), a.attempt, a.status, a.retryInUnits]);
    expect(log).toEqual([
      [[first], 1, 401, 1],
      [[first], 2, 401, 2],
      [[first], 3, 401, 3],
      [[first], 4, 401, 5],
      [[first], 5, 200, undefined],
      [[later], 1, 200, undefined],
    ]);
    expect(done.attempt).toBe(1);
  });

  it('keeps an event without a usable id as a rejected row and still answers 200', async () => {
    const account = s.sim.dataset.get(pendingAccount())!;
    s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.UPDATED', account, { id: 'not-a-uuid' });
    const good = s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.SOMETHING_NEW', account);
    await delivered(account.id);
    const rows = await storedEvents(s.prisma);
    expect(rows.map((r) => [r.event_id, r.type, r.outcome, r.reason])).toEqual([
      [null, 'ACCOUNT.UPDATED', 'rejected', 'the event has no usable id ("not-a-uuid")'],
      [good, 'ACCOUNT.SOMETHING_NEW', null, null],
    ]);
    expect(s.outcomes.map((o) => [o.status, o.batch])).toEqual([[200, { stored: 2, redelivered: 0, rejected: 1 }]]);
  });

  it('answers 413 to a body over the limit, 401 to an unsigned one, 404 and 405 elsewhere', async () => {
    const url = new URL(s.receiver.url);
    const base = `http://${url.host}`;
    const big = Buffer.alloc(2 * 1_048_576 + 1, 0x20);
    const tooLarge = await rawRequest(base, { method: 'POST', target: url.pathname, headers: { 'content-type': 'application/json' }, body: big });
    expect([tooLarge.status, tooLarge.json()]).toEqual([413, { error: 'too_large' }]);
    const unsigned = await rawRequest(base, { method: 'POST', target: url.pathname, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"payload":[]}') });
    expect([unsigned.status, unsigned.json()]).toEqual([401, { error: 'unauthorized' }]);
    expect((await rawRequest(base, { method: 'POST', target: '/elsewhere', headers: {} })).status).toBe(404);
    expect((await rawRequest(base, { method: 'GET', target: url.pathname, headers: {} })).status).toBe(405);
    // What the metrics count them as (account_sync_webhook_deliveries_total{status,reason}).
    expect(s.outcomes.slice(-4).map((o) => [o.status, o.failure, o.reason])).toEqual([
      [413, 'too_large', 'body of 2097153 bytes is over the limit of 2097152'],
      [401, 'missing', 'missing signature-input header'],
      [404, 'not_found', undefined],
      [405, 'method_not_allowed', undefined],
    ]);
    expect(await storedEvents(s.prisma)).toEqual([]);
  });

  it('answers 503 while the events cannot be stored, never 200 before they are, and stores them on the retry', async () => {
    const id = pendingAccount();
    await s.prisma.$executeRaw`ALTER TABLE webhook_events RENAME TO webhook_events_away`;
    try {
      s.sim.dataset.setStatus(id, 'LOCKED');
      await s.sim.webhooks.waitFor((a) => a.events.some((e) => e.objectId === id) && a.attempt === 1);
    } finally {
      await s.prisma.$executeRaw`ALTER TABLE webhook_events_away RENAME TO webhook_events`;
    }
    await delivered(id);
    expect(attemptsFor(id).map(([attempt, status]) => [attempt, status])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    expect(s.outcomes.map((o) => [o.status, o.failure])).toEqual([
      [503, 'store_failed'],
      [200, undefined],
    ]);
    expect((await storedEvents(s.prisma)).map((e) => [e.object_id, e.type, e.deliveries])).toEqual([[id, 'ACCOUNT.LOCKED', 1]]);
  });

  it('shares the table between receivers: the same event through two of them is stored once', async () => {
    const outcomes: ReceiverOutcome[] = [];
    const second = await startReceiver({
      host: '127.0.0.1',
      port: 0,
      path: '/hooks/upvest',
      maxBodyBytes: 1_048_576,
      signature: { maxAgeSeconds: 300, clockSkewSeconds: 60, enforceExpires: false },
      keys: (keyId) => s.keys.get(keyId),
      prisma: s.prisma,
      logger: silentLogger(),
      onOutcome: (o) => outcomes.push(o),
    });
    const other = await s.admin.create({ title: 'second receiver', url: second.url, type: ['ALL'], config: { delay: '1s', max_package_size: 1_048_576 } });
    await s.admin.update(other.id, { enabled: true });
    try {
      const id = pendingAccount();
      s.sim.dataset.rename(id, 'Seen twice');
      await Promise.all([
        s.sim.webhooks.waitFor((a) => a.status === 200 && a.webhookId === s.subscriptionId && a.events.some((e) => e.objectId === id)),
        s.sim.webhooks.waitFor((a) => a.status === 200 && a.webhookId === other.id && a.events.some((e) => e.objectId === id)),
      ]);
      expect((await storedEvents(s.prisma)).map((e) => [e.object_id, e.deliveries])).toEqual([[id, 2]]);
      expect([...s.outcomes, ...outcomes].map((o) => o.batch!.stored).sort()).toEqual([0, 1]);
    } finally {
      await s.admin.delete(other.id);
      await second.close();
    }
  });

  it('refuses deliveries from addresses outside the allow-list with 403', async () => {
    const outcomes: ReceiverOutcome[] = [];
    const guarded = await startReceiver({
      host: '127.0.0.1',
      port: 0,
      path: '/hooks/upvest',
      maxBodyBytes: 1_048_576,
      signature: { maxAgeSeconds: 300, clockSkewSeconds: 60, enforceExpires: false },
      allowedSources: ['10.0.0.0/8', '2001:db8::/32'],
      keys: (keyId) => s.keys.get(keyId),
      prisma: s.prisma,
      logger: silentLogger(),
      onOutcome: (o) => outcomes.push(o),
    });
    try {
      const url = new URL(guarded.url);
      const response = await rawRequest(`http://${url.host}`, { method: 'POST', target: url.pathname, headers: {}, body: Buffer.from('{}') });
      expect([response.status, response.json()]).toEqual([403, { error: 'forbidden' }]);
      expect(outcomes.map((o) => [o.status, o.failure, o.reason])).toEqual([[403, 'source_not_allowed', 'source address 127.0.0.1 is not allowed']]);
    } finally {
      await guarded.close();
    }
  });
});

