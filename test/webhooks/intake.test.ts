// Checks before work, over real sockets against the real receiver: a delivery whose headers
// cannot pass (no signature, an unknown key) is refused before its body is sent at all; a
// refusal tells the sender "unauthorized" and nothing else, the reason going to the log and the
// outcome (the metrics' label), a forged key id logged cut short; a connection that dribbles its
// headers or its body, or says nothing, is closed within 10 s; connections beyond the cap are
// dropped.
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { signWebhookRequest } from '../../src/simulator/webhook-signer.js';
import { startReceiver } from '../../src/webhooks/receiver.js';
import { startWebhookSetup, storedEvents, type WebhookSetup } from './support.js';

let s: WebhookSetup;
const logLines: Array<{ msg: string; keyId?: string; failure?: string }> = [];
const logStream = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString().split('\n')) if (line.startsWith('{')) logLines.push(JSON.parse(line));
    done();
  },
});

beforeAll(async () => {
  s = await startWebhookSetup('webhook_intake', { receiver: { logger: createLogger({ level: 'info' }, logStream) } });
  await s.keys.refresh();
});
afterAll(() => s?.close());

const target = () => new URL(s.receiver.url);
const BODY = Buffer.from(`{"payload":[]}`);

/** The headers of a delivery of `body` signed with the simulator's current key (or another key id). */
function signedHeaders(body: Buffer, keyId = s.sim.webhooks.keyring.current.kid): string[] {
  const covered: Array<[string, string]> = [['content-type', 'application/json']];
  const signed = signWebhookRequest({
    method: 'POST',
    path: target().pathname,
    headers: covered,
    body,
    key: s.sim.webhooks.keyring.current.privateKey,
    keyId,
    createdS: Math.floor(Date.now() / 1000),
  });
  return [`Host: ${target().host}`, 'Content-Type: application/json', `Content-Length: ${body.length}`, ...Object.entries(signed).map(([k, v]) => `${k}: ${v}`)];
}

interface Conversation {
  socket: Socket;
  received: () => string;
  /** When the server closed the connection, ms after it was opened. */
  closed: Promise<number>;
}

function open(): Promise<Conversation> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(Number(target().port), target().hostname);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.once('connect', () => resolve({ socket, received: () => received, closed }));
    socket.once('error', reject);
  });
}

/** Resolves with what the server sent once it has sent a whole answer (headers and a JSON body line). */
const answerOf = async (c: Conversation): Promise<string> => {
  for (let i = 0; i < 200 && !/\r\n\r\n.*\n/s.test(c.received()); i++) await new Promise((r) => setTimeout(r, 25));
  return c.received();
};

describe('the receiver checks headers before it reads a body', () => {
  it('refuses a delivery without a signature, and one with a key id Upvest does not list, before the body is sent', async () => {
    s.clock.keysMs += 60_000; // the last fetch of Upvest's keys was a while ago
    const fetches = s.keys.fetches;
    for (const [headers, failure] of [
      [[`Host: ${target().host}`, 'Content-Type: application/json', 'Content-Length: 1000'], 'missing'],
      [signedHeaders(Buffer.alloc(1000, 0x20), randomUUID()), 'unknown_key'],
    ] as const) {
      const c = await open();
      // The headers only: the 1000 bytes they announce never come.
      c.socket.write(`POST ${target().pathname} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
      const answer = await answerOf(c);
      expect([failure, answer.split('\r\n')[0], answer.slice(answer.indexOf('\r\n\r\n') + 4)]).toEqual([
        failure,
        'HTTP/1.1 401 Unauthorized',
        '{"error":"unauthorized"}\n',
      ]);
      c.socket.destroy();
      expect(s.outcomes.at(-1)).toMatchObject({ status: 401, failure });
    }
    // The unknown key id made the receiver fetch Upvest's keys once more.
    expect(s.keys.fetches - fetches).toBe(1);
    expect(await storedEvents(s.prisma)).toEqual([]);
  });

  it('logs why, with a forged key id cut to 64 characters', async () => {
    const forged = 'k'.repeat(5_000);
    const c = await open();
    c.socket.write(`POST ${target().pathname} HTTP/1.1\r\n${signedHeaders(BODY, forged).join('\r\n')}\r\n\r\n${BODY.toString()}`);
    expect((await answerOf(c)).split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
    c.socket.destroy();
    const line = logLines.filter((l) => l.msg.startsWith('webhook delivery refused')).at(-1)!;
    expect([line.failure, line.keyId, line.msg]).toEqual(['unknown_key', `${'k'.repeat(64)}…`, `webhook delivery refused: unknown keyid "${'k'.repeat(64)}…"`]);
  });
});

describe('what Node answers itself', () => {
  it('answers a malformed request 400, with the headers every answer carries, and closes', async () => {
    const c = await open();
    c.socket.write('NOT HTTP AT ALL\r\n\r\n');
    await c.closed;
    expect(c.received().split('\r\n').slice(0, 4)).toEqual(['HTTP/1.1 400 Bad Request', 'connection: close', 'content-length: 0', 'x-content-type-options: nosniff']);
  });
});

describe('the time limits', () => {
  it('close a connection that dribbles its headers, its body, or says nothing, within 10 s', async () => {
    const body = Buffer.from(`{"payload":[${' '.repeat(200)}]}`);
    const [headers, bodyConn, silent] = await Promise.all([open(), open(), open()]);
    headers.socket.write(`POST ${target().pathname} HTTP/1.1\r\nHost: x\r\n`);
    // A header line a second, for ever.
    const headerDrip = setInterval(() => headers.socket.write(`X-Drip-${Date.now()}: 1\r\n`), 1_000);
    // Valid headers, then one byte of the body a second.
    bodyConn.socket.write(`POST ${target().pathname} HTTP/1.1\r\n${signedHeaders(body).join('\r\n')}\r\n\r\n`);
    let sent = 0;
    const bodyDrip = setInterval(() => bodyConn.socket.write(body.subarray(sent, ++sent)), 1_000);
    try {
      const closedAfter = await Promise.all([headers.closed, bodyConn.closed, silent.closed]);
      for (const ms of closedAfter) expect(ms).toBeLessThan(10_000);
      expect([headers.received().split('\r\n')[0], bodyConn.received().split('\r\n')[0], silent.received()]).toEqual([
        'HTTP/1.1 408 Request Timeout',
        'HTTP/1.1 408 Request Timeout',
        '',
      ]);
      // Node's own answer, with the headers every answer carries.
      expect(headers.received()).toContain('\r\nx-content-type-options: nosniff\r\n');
    } finally {
      clearInterval(headerDrip);
      clearInterval(bodyDrip);
    }
  }, 30_000);
});

describe('the connection cap', () => {
  it('drops connections beyond it at once', async () => {
    const capped = await startReceiver({
      host: '127.0.0.1',
      port: 0,
      path: '/hooks/upvest',
      maxBodyBytes: 1_048_576,
      limits: { maxConnections: 2 },
      signature: { maxAgeSeconds: 300, clockSkewSeconds: 60, enforceExpires: false },
      keys: (keyId) => s.keys.get(keyId),
      prisma: s.prisma,
      logger: createLogger({ level: 'silent' }),
    });
    const url = new URL(capped.url);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const socket = connect(Number(url.port), url.hostname);
        socket.on('error', () => undefined);
        await new Promise((resolve) => socket.once('connect', resolve));
        sockets.push(socket);
      }
      // The third is closed by the server as soon as it is accepted; the first two stay open.
      await new Promise((resolve) => sockets[2]!.once('close', resolve));
      expect(sockets.map((socket) => socket.readyState)).toEqual(['open', 'open', 'closed']);
    } finally {
      for (const socket of sockets) socket.destroy();
      await capped.close();
    }
  });
});
