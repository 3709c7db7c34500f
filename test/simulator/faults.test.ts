import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSimulator, type Fault, type Simulator } from '../../src/simulator/index.js';
import { TestClient, type RawResponse, type TransportError } from './client-helper.js';

let sim: Simulator;
let client: TestClient;
let token: string;

beforeAll(async () => {
  sim = await startSimulator({ accounts: 300, seed: 5 });
  client = new TestClient(sim);
  token = await client.accessToken();
});
afterAll(() => sim?.close());
beforeEach(() => {
  sim.faults.clear();
  sim.stats.reset();
});

const list = (query = 'limit=100') => client.get('/accounts', query, { token });

async function failure(request: Promise<RawResponse>): Promise<TransportError> {
  try {
    await request;
  } catch (error) {
    return error as TransportError;
  }
  throw new Error('the request succeeded');
}

describe('queued faults', () => {
  it('answers 429 with a Retry-After in seconds or as an HTTP date', async () => {
    const date = 'Wed, 21 Oct 2015 07:28:00 GMT';
    sim.faults.enqueue('/accounts', { kind: 'status', status: 429, retryAfter: '1' }, { kind: 'status', status: 429, retryAfter: date });
    expect(sim.faults.pending()).toBe(2);
    const first = await list();
    expect([first.status, first.headers['retry-after'], first.headers['content-type']]).toEqual([429, '1', 'application/problem+json']);
    expect(first.json()).toMatchObject({ type: 'https://docs.upvest.co/errors/too_many_requests', status: 429, title: 'Too Many Requests' });
    expect((await list()).headers['retry-after']).toBe(date);
    expect(sim.faults.pending()).toBe(0);
    expect((await list()).status).toBe(200);
  });

  it('answers server errors and client errors as problem+json, or with the body given', async () => {
    for (const status of [500, 502, 503, 504, 400, 403, 404, 406]) sim.faults.enqueue('*', { kind: 'status', status });
    const seen: Array<[number, string, number]> = [];
    for (let i = 0; i < 8; i++) {
      const response = await list();
      seen.push([response.status, response.headers['content-type']!, response.json().status]);
    }
    expect(seen).toEqual([500, 502, 503, 504, 400, 403, 404, 406].map((s) => [s, 'application/problem+json', s]));
    sim.faults.enqueue('/accounts', { kind: 'status', status: 502, body: '<html>proxy error</html>', contentType: 'text/html' });
    const custom = await list();
    expect([custom.status, custom.headers['content-type'], custom.body]).toEqual([502, 'text/html', '<html>proxy error</html>']);
  });

  it('resets the connection without an answer', async () => {
    sim.faults.enqueue('/accounts', { kind: 'reset' });
    const error = await failure(list());
    expect(error.code).toBe('ECONNRESET');
    expect(sim.stats.byStatus[0]).toBe(1);
  });

  it('truncates the body after promising all of it', async () => {
    sim.faults.enqueue('/accounts', { kind: 'truncate' });
    const error = await failure(list());
    expect(error.partial?.status).toBe(200);
    const promised = Number(error.partial?.headers['content-length']);
    expect(Buffer.byteLength(error.partial!.body)).toBeLessThan(promised);
    expect(promised).toBeGreaterThan(1000);
    expect(() => JSON.parse(error.partial!.body)).toThrow();
  });

  it('serves a non-JSON body labelled as JSON', async () => {
    sim.faults.enqueue('/accounts', { kind: 'nonjson' });
    const response = await list();
    expect([response.status, response.headers['content-type']]).toEqual([200, 'application/json']);
    expect(() => response.json()).toThrow(SyntaxError);
  });

  it('delays answers, once or for every request', async () => {
    sim.faults.enqueue('/accounts', { kind: 'latency', ms: 150 });
    let started = performance.now();
    expect((await list()).status).toBe(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    sim.faults.setLatency(100);
    started = performance.now();
    await Promise.all([list(), list()]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(sim.stats.maxConcurrent).toBe(2);
  });

  it('holds matching requests, after letting some through, until the test releases them', async () => {
    const hold = sim.faults.hold('/accounts', { after: 1 });
    expect((await list()).status).toBe(200);
    let answered = 0;
    const held = [list(), list(), list()].map((p) => p.then((r) => (answered++, r.status)));
    await hold.arrived(3);
    // A token request passes: the hold is for its path only.
    expect([(await client.token()).status, answered, hold.held]).toEqual([200, 0, 3]);
    hold.releaseSome(1);
    expect(await Promise.race(held)).toBe(200);
    expect([answered, hold.held]).toEqual([1, 2]);
    hold.release();
    expect(await Promise.all(held)).toEqual([200, 200, 200]);
    expect((await list()).status).toBe(200);
  });

  it('is consumed by the next matching request, before authentication, in order', async () => {
    sim.faults.enqueue('/auth/token', { kind: 'status', status: 503 });
    sim.faults.enqueue('/accounts', { kind: 'status', status: 500 });
    const unauthenticated = await client.get('/accounts', 'limit=1');
    expect(unauthenticated.status).toBe(500);
    expect(sim.faults.pending()).toBe(1);
    expect((await client.token()).status).toBe(503);
    expect((await client.token()).status).toBe(200);
    expect(sim.stats.faultsInjected).toBe(2);
  });
});

describe('random faults', () => {
  it('strike with the given probability, reproducibly per seed, on the given path', async () => {
    const kinds: Fault[] = [{ kind: 'status', status: 500 }, { kind: 'status', status: 503 }];
    const run = async () => {
      sim.faults.setRandom({ probability: 0.5, kinds, seed: 42, path: '/accounts' });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await list('limit=1')).status);
      return statuses;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(first.filter((s) => s !== 200).length).toBeGreaterThan(0);
    expect((await client.token()).status).toBe(200);
    sim.faults.setRandom(null);
    expect((await list('limit=1')).status).toBe(200);
  });
});

describe('rate limit', () => {
  it('answers 429 beyond the rate, with Retry-After when asked to', async () => {
    // A burst well inside the half second the bucket needs to refill one request.
    sim.faults.setRateLimit(2, { retryAfter: true });
    const responses = await Promise.all(Array.from({ length: 6 }, () => list('limit=1')));
    const limited = responses.filter((r) => r.status === 429);
    expect(responses.filter((r) => r.status === 200)).toHaveLength(2);
    expect(limited).toHaveLength(4);
    for (const r of limited) {
      expect(r.headers['retry-after']).toBe('1');
      expect(r.json().type).toBe('https://docs.upvest.co/errors/too_many_requests');
    }
    sim.faults.setRateLimit(2);
    const plain = await Promise.all(Array.from({ length: 4 }, () => list('limit=1')));
    expect(plain.map((r) => r.status).sort()).toEqual([200, 200, 429, 429]);
    expect(plain.find((r) => r.status === 429)!.headers['retry-after']).toBeUndefined();
    sim.faults.setRateLimit(null);
    expect((await list('limit=1')).status).toBe(200);
  });
});
