import { Agent } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type SimAccount, type Simulator } from '../../src/simulator/index.js';
import { TestClient } from './client-helper.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let clockMs = Date.now();
let sim: Simulator;
let client: TestClient;
let token: string;

beforeAll(async () => {
  sim = await startSimulator({ accounts: 2500, seed: 1, now: () => clockMs, tokenTtlSeconds: 600 });
  client = new TestClient(sim);
  token = await client.accessToken();
});
afterAll(() => sim?.close());
beforeEach(() => {
  clockMs = Date.now();
  sim.faults.clear();
  sim.stats.reset();
});

function micros(timestamp: string): number {
  const [whole, fraction = ''] = timestamp.slice(0, -1).split('.');
  return Date.parse(`${whole}Z`) * 1000 + Number(fraction.padEnd(6, '0'));
}

describe('POST /auth/token', () => {
  it('issues an opaque bearer token for the requested scopes, signed and without authorization', async () => {
    const response = await client.token({ scope: 'accounts:read accounts:admin' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    expect(response.headers['upvest-request-id']).toMatch(UUID);
    const body = response.json();
    expect(body).toEqual({ access_token: expect.any(String), expires_in: 600, token_type: 'bearer', scope: 'accounts:read accounts:admin' });
    expect(body.access_token.length).toBeGreaterThanOrEqual(32);
    expect(sim.stats.tokensIssued).toBe(1);
  });

  it('answers 401 problem+json for a wrong secret or a wrong client id', async () => {
    const forms: Array<Record<string, string>> = [{ client_secret: 'wrong' }, { client_id: '00000000-0000-4000-8000-000000000000' }];
    for (const form of forms) {
      const response = await client.token({ form });
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toBe('application/problem+json');
      const requestId = response.headers['upvest-request-id'];
      expect(response.json()).toEqual({
        type: 'https://docs.upvest.co/errors/unauthorized',
        status: 401,
        title: 'Unauthorized',
        detail: 'invalid client credentials',
        instance: `/auth/token#${requestId}`,
        request_id: requestId,
      });
    }
    expect(sim.stats.tokensIssued).toBe(0);
  });

  it('answers 400 for an unknown grant type or a missing field, 401 when the header disagrees', async () => {
    const grant = await client.token({ form: { grant_type: 'password' } });
    expect([grant.status, grant.json().detail]).toEqual([400, 'unsupported grant_type "password"; only client_credentials is supported']);
    const missing = await client.token({ form: { client_secret: '' } });
    expect([missing.status, missing.json().detail]).toEqual([400, 'client_secret is required']);
    const header = await client.token({ headers: { 'upvest-client-id': 'someone-else' } });
    expect([header.status, header.json().detail]).toEqual([401, 'upvest-client-id does not match client_id']);
  });

  it('requires a form body', async () => {
    const response = await client.token({ headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(415);
  });
});

describe('GET /accounts: access', () => {
  it('serves a signed request with the default paging', async () => {
    const response = await client.get('/accounts', '', { token });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json');
    const page = response.json();
    expect(page.meta).toEqual({ offset: 0, limit: 100, count: 100, total_count: 2500, sort: 'created_at', order: 'ASC' });
    expect(page.data).toEqual(sim.dataset.list().slice(0, 100));
    expect(sim.stats.accountsServed).toBe(100);
  });

  it('answers 401 for a missing, unknown or expired token and 403 without the scope', async () => {
    const none = await client.get('/accounts', 'limit=1');
    expect([none.status, none.json().detail]).toEqual([401, 'invalid HTTP message signature: signature-input does not cover authorization']);
    const unknown = await client.get('/accounts', 'limit=1', { token: 'not-a-token' });
    expect([unknown.status, unknown.json().detail]).toEqual([401, 'unknown access token']);

    const narrow = await client.accessToken('accounts:write');
    const forbidden = await client.get('/accounts', 'limit=1', { token: narrow });
    expect([forbidden.status, forbidden.json().detail]).toEqual([403, 'the access token lacks scope accounts:read or accounts:admin']);
    expect(forbidden.json().type).toBe('https://docs.upvest.co/errors/forbidden');

    const admin = await client.accessToken('accounts:admin');
    expect((await client.get('/accounts', 'limit=1', { token: admin })).status).toBe(200);
  });

  it('expires every token issued so far on expireTokens(), and after its lifetime', async () => {
    const mine = await client.accessToken();
    sim.expireTokens();
    const expired = await client.get('/accounts', 'limit=1', { token: mine });
    expect([expired.status, expired.json().detail]).toEqual([401, 'access token expired']);
    const fresh = await client.accessToken();
    expect((await client.get('/accounts', 'limit=1', { token: fresh })).status).toBe(200);

    // The simulator's clock moves on by the token lifetime; the signature moves with it.
    clockMs += 600_000;
    const later = await client.get('/accounts', 'limit=1', { token: fresh, sign: { created: Math.floor(clockMs / 1000) } });
    expect([later.status, later.json().detail]).toEqual([401, 'access token expired']);
    clockMs = Date.now();
    token = await client.accessToken();
  });

  it('insists on application/json (406) and API version 1 (426)', async () => {
    for (const accept of ['text/html', '*/*', 'application/xml']) {
      const response = await client.get('/accounts', 'limit=1', { token, headers: { accept } });
      expect([response.status, response.json().detail]).toEqual([406, `accept must be application/json, got "${accept}"`]);
    }
    const withParams = await client.get('/accounts', 'limit=1', { token, headers: { accept: 'text/html, application/json;q=0.9' } });
    expect(withParams.status).toBe(200);
    expect((await client.get('/accounts', 'limit=1', { token, headers: { 'upvest-api-version': '1' } })).status).toBe(200);
    const retired = await client.get('/accounts', 'limit=1', { token, headers: { 'upvest-api-version': '2' } });
    expect([retired.status, retired.json().type]).toEqual([426, 'https://docs.upvest.co/errors/upgrade_required']);
  });

  it('answers 404 for unknown paths and 405 for the wrong method', async () => {
    const missing = await client.get('/accountz', '', { token });
    expect([missing.status, missing.headers['content-type'], missing.json().detail]).toEqual([404, 'application/problem+json', 'no resource at /accountz']);
    const wrong = await client.get('/accounts', '', { token, method: 'DELETE' });
    expect([wrong.status, wrong.headers.allow]).toEqual([405, 'GET']);
  });

  it('validates the paging parameters, naming the one at fault', async () => {
    const cases: Array<[string, string]> = [
      ['offset=-1', 'offset must be an integer >= 0, got "-1"'],
      ['offset=abc', 'offset must be an integer >= 0, got "abc"'],
      ['offset=1.5', 'offset must be an integer >= 0, got "1.5"'],
      ['offset=', 'offset must be an integer >= 0, got ""'],
      ['limit=0', 'limit must be an integer between 1 and 1000, got "0"'],
      ['limit=1001', 'limit must be an integer between 1 and 1000, got "1001"'],
      ['limit=ten', 'limit must be an integer between 1 and 1000, got "ten"'],
      ['sort=name', 'sort must be one of created_at, updated_at, got "name"'],
      ['order=asc', 'order must be ASC or DESC, got "asc"'],
      ['offset=1&offset=2', 'offset must be given at most once'],
    ];
    for (const [query, detail] of cases) {
      const response = await client.get('/accounts', query, { token });
      expect([query, response.status, response.headers['content-type'], response.json().detail]).toEqual([query, 400, 'application/problem+json', detail]);
    }
  });

  it('keeps connections alive across requests', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const kept = new TestClient(sim, { agent });
    for (let i = 0; i < 5; i++) expect((await kept.get('/accounts', `offset=${i}&limit=1`, { token })).status).toBe(200);
    expect(sim.stats.connections).toBe(1);
    agent.destroy();
  });
});

describe('GET /accounts: paging', () => {
  it('covers every account exactly once in created_at order', async () => {
    const walked = await client.walk(token, 'created_at', 'ASC', 1000);
    expect(walked).toEqual(sim.dataset.list());
    const descending = await client.walk(token, 'created_at', 'DESC', 333);
    expect(descending).toEqual([...sim.dataset.list()].reverse());
  });

  it('orders by updated_at, the changed accounts newest, each account once', async () => {
    const log = sim.dataset.applyRandomChanges({ seed: 2, statusChanges: 20, renames: 5, userChanges: 5, additions: 10, removals: 3 });
    const walked = await client.walk(token, 'updated_at', 'DESC', 1000);
    const expected = [...sim.dataset.list()].sort((a, b) => micros(b.updated_at) - micros(a.updated_at) || (a.id < b.id ? 1 : -1));
    expect(walked).toEqual(expected);
    const changed = new Set([...log.statusChanges, ...log.renames, ...log.userChanges].map((c) => c.id).concat(log.added));
    expect(new Set(walked.slice(0, changed.size).map((a) => a.id))).toEqual(changed);
    expect(await client.walk(token, 'updated_at', 'ASC', 700)).toEqual([...expected].reverse());
  });

  it('shifts pages on removals and additions, and total_count follows', async () => {
    const before = (await client.page(token, 'offset=100&limit=10')).data;
    const total = sim.dataset.count;
    sim.dataset.remove(sim.dataset.at(5)!.id);
    const shifted = await client.page(token, 'offset=100&limit=10');
    expect(shifted.meta.total_count).toBe(total - 1);
    expect(shifted.data.slice(0, 9)).toEqual(before.slice(1));

    const [added] = sim.dataset.add(1);
    const last = await client.page(token, `offset=${total - 1}&limit=10`);
    expect(last.meta).toEqual({ offset: total - 1, limit: 10, count: 1, total_count: total, sort: 'created_at', order: 'ASC' });
    expect(last.data).toEqual([added]);
    const beyond = await client.page(token, `offset=${total + 50}&limit=10`);
    expect([beyond.meta.count, beyond.data]).toEqual([0, []]);
  });

  it('serves corrupted accounts raw and unknown statuses as they are', async () => {
    const [victim, odd] = sim.dataset.list().slice(0, 2) as [SimAccount, SimAccount];
    sim.dataset.corrupt(victim.id, { name: 42, status: null, created_at: 'yesterday' });
    sim.dataset.setStatus(odd.id, 'SUSPENDED');
    const { data } = await client.page(token, 'limit=2');
    expect(data[0]).toEqual({ ...victim, name: 42, status: null, created_at: 'yesterday' });
    expect(data[1]).toMatchObject({ id: odd.id, status: 'SUSPENDED' });
    sim.dataset.uncorrupt(victim.id);
    expect((await client.page(token, 'limit=1')).data[0]).toEqual(victim);
  });
});

describe('determinism and statistics', () => {
  it('serves the same first page for the same seed', async () => {
    const first = await startSimulator({ accounts: 30, seed: 77 });
    const second = await startSimulator({ accounts: 30, seed: 77 });
    try {
      const pages = await Promise.all(
        [first, second].map(async (s) => {
          const c = new TestClient(s);
          return (await c.page(await c.accessToken(), 'limit=30')).data;
        }),
      );
      expect(pages[0]).toEqual(pages[1]);
      expect(pages[0]![0]!.id).toBe('f3909f29-4674-42cf-be01-d8e1637bdc32');
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('counts requests by path and status, with timed events', async () => {
    const started = Date.now();
    await client.get('/accounts', 'limit=5', { token });
    await client.get('/accounts', 'limit=0', { token });
    await client.token({ form: { client_secret: 'nope' } });
    expect(sim.stats.requests).toBe(3);
    expect(sim.stats.byPath).toEqual({ '/accounts': 2, '/auth/token': 1 });
    expect(sim.stats.byStatus).toEqual({ 200: 1, 400: 1, 401: 1 });
    expect(sim.stats.accountsServed).toBe(5);
    expect(sim.stats.maxConcurrent).toBe(1);
    expect(sim.stats.events.map((e) => [e.path, e.status])).toEqual([
      ['/accounts', 200],
      ['/accounts', 400],
      ['/auth/token', 401],
    ]);
    expect(sim.stats.countSince(started, '/accounts')).toBe(2);
    sim.stats.reset();
    expect([sim.stats.requests, sim.stats.events.length]).toEqual([0, 0]);
  });
});
