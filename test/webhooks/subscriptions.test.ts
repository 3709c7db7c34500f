// Upvest's webhook endpoints through our signed client against the simulator over real HTTP:
// create (disabled), enable, list, get, test, delete; the validation and scopes the spec
// describes; and the batching a subscription's config asks for.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadSections } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { Subscriptions } from '../../src/simulator/webhook-subscriptions.js';
import { createWebhooksApiFromConfig } from '../../src/webhooks/index.js';
import { startWebhookSetup, storedEvents, type WebhookSetup } from './support.js';

let s: WebhookSetup;

beforeAll(async () => {
  s = await startWebhookSetup('webhook_subscriptions');
});
afterAll(() => s?.close());
afterEach(() => {
  s.sim.webhooks.switches.clear();
  expect(s.sim.webhooks.backlog).toBe(0);
});

describe('webhook subscriptions', () => {
  it('creates a subscription disabled, enables it with a PATCH of the mutable fields, lists, gets and deletes it', async () => {
    const created = await s.admin.create({ title: 'second', url: 'https://tenant.example/hooks', type: ['ACCOUNT', 'USER'], config: { delay: '5s', max_package_size: 10_240 } });
    expect(created).toMatchObject({ title: 'second', url: 'https://tenant.example/hooks', enabled: false, type: ['ACCOUNT', 'USER'], config: { delay: '5s', max_package_size: 10_240 } });
    expect(await s.admin.update(created.id, { enabled: true })).toMatchObject({ id: created.id, enabled: true, title: 'second' });
    expect((await s.admin.listAll()).map((w) => [w.id, w.enabled])).toEqual([
      [s.subscriptionId, true],
      [created.id, true],
    ]);
    expect((await s.admin.list({ offset: 1, limit: 1 })).meta).toMatchObject({ offset: 1, limit: 1, count: 1, total_count: 2 });
    expect((await s.admin.get(created.id)).url).toBe('https://tenant.example/hooks');
    await s.admin.delete(created.id);
    await expect(s.admin.get(created.id)).rejects.toMatchObject({ code: 'UPVEST_NOT_FOUND', status: 404 });
  });

  it.each([
    [{ title: 'x'.repeat(101), url: 'https://a.example/h' }, 'title must be 1 to 100 characters'],
    [{ title: 't', url: `https://a.example/${'p'.repeat(1000)}` }, 'url must be a URL of at most 1000 characters'],
    [{ title: 't', url: 'http://tenant.example/h' }, 'url must be https'],
    [{ title: 't', url: 'https://a.example/h', type: ['ACCOUNTS'] }, 'unknown type "ACCOUNTS"'],
    [{ title: 't', url: 'https://a.example/h', config: { delay: '31s', max_package_size: 100 } }, 'config.delay must be like "5s", at most 30s'],
    [{ title: 't', url: 'https://a.example/h', config: { delay: '1s', max_package_size: 99 } }, 'config.max_package_size must be an integer from 100 to 1048576'],
    [{ title: 't', url: 'https://a.example/h', config: { delay: '1s', max_package_size: 1_048_577 } }, 'config.max_package_size must be an integer from 100 to 1048576'],
  ])('refuses an invalid subscription with 400', async (input, detail) => {
    await expect(s.admin.create(input)).rejects.toMatchObject({ code: 'UPVEST_BAD_REQUEST', status: 400, problem: { detail } });
  });

  it('takes plain http to another host only when told to (simulator --http-webhooks, for a container network)', () => {
    const fields = { title: 't', url: 'http://receiver:9465/webhooks/upvest' };
    expect(new Subscriptions(Date.now).create(fields)).toBe('url must be https');
    expect(new Subscriptions(Date.now, true).create(fields)).toMatchObject({ url: 'http://receiver:9465/webhooks/upvest', enabled: false });
  });

  it('retries an answer that is cut short or not JSON, as every other call does', async () => {
    // Found by the soak: a receiver's start-up fetch of the keys failed on the first non-JSON 200.
    const { upvest, webhooks } = loadSections(s.env, ['upvest', 'webhooks']);
    const reader = createWebhooksApiFromConfig(upvest, webhooks, { logger: silentLogger() });
    const before = s.sim.stats.byPath['/auth/verify_keys'] ?? 0;
    s.sim.faults.enqueue('/auth/verify_keys', { kind: 'nonjson' });
    s.sim.faults.enqueue('/auth/verify_keys', { kind: 'truncate' });
    expect((await reader.verifyKeys()).map((k) => k.kid)).toEqual(s.sim.webhooks.keyring.jwks().keys.map((k) => k.kid));
    expect((s.sim.stats.byPath['/auth/verify_keys'] ?? 0) - before).toBe(3);
  });

  it('needs webhooks:admin to change and webhooks:read to read', async () => {
    const { upvest, webhooks } = loadSections(s.env, ['upvest', 'webhooks']);
    const reader = createWebhooksApiFromConfig(upvest, webhooks, { logger: silentLogger() });
    const accountsOnly = createWebhooksApiFromConfig(upvest, webhooks, { logger: silentLogger(), scopes: 'accounts:read' });
    expect((await reader.verifyKeys()).map((k) => [k.kid, k.kty, k.crv])).toEqual(s.sim.webhooks.keyring.jwks().keys.map((k) => [k.kid, 'EC', 'P-521']));
    await expect(reader.create({ title: 't', url: 'https://a.example/h' })).rejects.toMatchObject({ code: 'UPVEST_FORBIDDEN', status: 403 });
    await expect(accountsOnly.verifyKeys()).rejects.toMatchObject({
      code: 'UPVEST_FORBIDDEN',
      problem: { detail: 'the access token lacks scope webhooks:read or webhooks:admin' },
    });
  });

  it('answers a test request with 202 and delivers a signed test event', async () => {
    expect(await s.admin.test(s.subscriptionId)).toEqual({ status: 202, body: undefined });
    const attempt = await s.sim.webhooks.waitFor((a) => a.status === 200 && a.events[0]?.type === 'WEBHOOK.TEST');
    const rows = await storedEvents(s.prisma);
    expect(rows.filter((r) => r.type === 'WEBHOOK.TEST').map((r) => r.event_id)).toEqual([attempt.events[0]!.id]);
  });

  it('cuts batches at max_package_size, sends a larger single event alone, and can reorder deliveries', async () => {
    await s.admin.update(s.subscriptionId, { config: { delay: '1s', max_package_size: 1_500 } });
    const ids = s.sim.dataset.list().slice(0, 4).map((a) => a.id);
    for (const id of ids) s.sim.dataset.rename(id, `Renamed ${id.slice(0, 8)}`); // each event is about 520 bytes
    s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.UPDATED', { id: ids[0], padding: 'x'.repeat(2_000) });
    await s.sim.webhooks.waitFor((a) => a.status === 200 && s.sim.webhooks.backlog === 0);
    const batches = s.sim.webhooks.attempts.filter((a) => a.events.some((e) => ids.includes(e.objectId ?? '')));
    expect(batches.map((a) => [a.events.length, a.bytes <= 1_500])).toEqual([
      [2, true],
      [2, true],
      [1, false],
    ]);

    // Two batches formed at once (one event each), the first held back until the second went.
    await s.admin.update(s.subscriptionId, { config: { delay: '1s', max_package_size: 100 } });
    s.sim.webhooks.switches.arm('reorder');
    s.sim.dataset.rename(ids[1]!, 'First change');
    s.sim.dataset.rename(ids[2]!, 'Second change');
    await s.sim.webhooks.waitFor((a) => a.status === 200 && s.sim.webhooks.backlog === 0);
    expect(s.sim.webhooks.attempts.slice(-2).map((a) => [a.events[0]!.objectId, a.status])).toEqual([
      [ids[2], 200],
      [ids[1], 200],
    ]);
    await s.admin.update(s.subscriptionId, { config: { delay: '1s', max_package_size: 1_048_576 } });
  });
});
