// The HTTP front: reads each request, lets the faults have their say, enforces the protocol
// rules every Upvest call shares (signature, API version), then hands over to the route.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createGzip } from 'node:zlib';
import { handleAccount, handleAccounts } from './accounts-route.js';
import type { SimulatorContext } from './context.js';
import { Exchange } from './exchange.js';
import { faultLabel, type Fault } from './faults.js';
import { verifyRequestSignature } from './signatures.js';
import { handleToken } from './token-route.js';
import { matchWebhookRoute } from './webhooks-route.js';

const MAX_BODY_BYTES = 1 << 20;

const ROUTES: Record<string, { method: string; handle: (ex: Exchange, ctx: SimulatorContext) => void; authorized: boolean }> = {
  '/accounts': { method: 'GET', handle: handleAccounts, authorized: true },
  '/auth/token': { method: 'POST', handle: handleToken, authorized: false },
};

/** GET /accounts/{account_id}. */
function accountRoute(path: string): (typeof ROUTES)[string] | undefined {
  const match = /^\/accounts\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  const id = decodeURIComponent(match[1]!).toLowerCase();
  return { method: 'GET', handle: (ex, ctx) => handleAccount(ex, ctx, id), authorized: true };
}

const NOT_JSON = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>';

export interface SimulatorServer {
  server: Server;
  /** Stops accepting, drops every connection and pending delay. */
  close(): Promise<void>;
}

export function createSimulatorServer(ctx: SimulatorContext): SimulatorServer {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let closing = false;

  // Delays end early (and the request is abandoned) when the simulator closes.
  const delay = (ms: number) =>
    new Promise<boolean>((resolve) => {
      if (ms <= 0) return resolve(!closing);
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve(!closing);
      }, ms);
      timers.add(timer);
    });

  const server = createServer((req, res) => {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 || q === raw.length - 1 ? undefined : raw.slice(q + 1);
    ctx.stats.begin(path);
    res.once('close', () => ctx.stats.end());
    res.setHeader('upvest-request-id', randomUUID());
    readBody(req, res, (body) => {
      const ex = new Exchange(req, res, String(res.getHeader('upvest-request-id')), path, query, body ?? Buffer.alloc(0), ctx.stats);
      if (body === undefined) {
        ex.problem(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
        return;
      }
      handle(ex, ctx, delay).catch((error: unknown) => {
        if (!ex.answered && !res.headersSent) ex.problem(500, `simulator error: ${String(error)}`);
      });
    });
  });
  server.keepAliveTimeout = 30_000;
  server.on('connection', (socket: Socket) => {
    ctx.stats.connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      closing = true;
      ctx.webhooks.close();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.close(() => resolve());
      server.closeAllConnections();
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };
  return { server, close };
}

function readBody(req: IncomingMessage, res: ServerResponse, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let tooLarge = false;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  });
  req.on('end', () => done(tooLarge ? undefined : Buffer.concat(chunks)));
  req.on('error', () => res.destroy());
}

async function handle(ex: Exchange, ctx: SimulatorContext, delay: (ms: number) => Promise<boolean>): Promise<void> {
  await ctx.faults.passHolds(ex.path);
  if (ctx.faults.latency > 0 && !(await delay(ctx.faults.latency))) return;

  const fault = ctx.faults.take(ex.path);
  if (fault) {
    ctx.stats.faulted(faultLabel(fault));
    if (await applyFault(ex, fault, delay)) return;
  }

  const clientKey = String(ex.req.headers['upvest-client-id'] ?? '-');
  const throttle = ctx.faults.throttle(clientKey, performance.now());
  if (throttle.limited) {
    const headers: Record<string, string> = throttle.retryAfterSeconds === undefined ? {} : { 'retry-after': String(throttle.retryAfterSeconds) };
    ex.problem(429, 'rate limit exceeded for this upvest-client-id', headers);
    return;
  }

  const route = ROUTES[ex.path] ?? accountRoute(ex.path) ?? matchWebhookRoute(ex.path, ex.req.method ?? '');
  if (!route) {
    ex.problem(404, `no resource at ${ex.path}`);
    return;
  }
  if (ex.req.method !== route.method) {
    ex.problem(405, `${ex.req.method} is not allowed on ${ex.path}`, { allow: route.method });
    return;
  }

  const verdict = verifyRequestSignature(
    { method: ex.req.method, path: ex.path, query: ex.query, headers: ex.req.headers, body: ex.body },
    {
      keyId: ctx.keyId,
      key: ctx.key,
      nowMs: ctx.now(),
      maxAgeSeconds: ctx.signatureMaxAgeSeconds,
      clockSkewSeconds: ctx.clockSkewSeconds,
      requireAuthorization: route.authorized,
      nonces: ctx.nonces,
    },
  );
  if (!verdict.ok) {
    ctx.stats.rejected(verdict.reason);
    ex.problem(401, `invalid HTTP message signature: ${verdict.reason}`);
    return;
  }

  const version = ex.req.headers['upvest-api-version'];
  if (version !== undefined && version !== '1') {
    ex.problem(426, `upvest-api-version ${JSON.stringify(version)} is retired or unknown; use 1`);
    return;
  }
  route.handle(ex, ctx);
}

/** Applies a fault; true when it answered (or dropped) the request itself. */
async function applyFault(ex: Exchange, fault: Fault, delay: (ms: number) => Promise<boolean>): Promise<boolean> {
  switch (fault.kind) {
    case 'status': {
      const headers: Record<string, string> = fault.retryAfter === undefined ? {} : { 'retry-after': fault.retryAfter };
      if (fault.body !== undefined) ex.send(fault.status, fault.contentType ?? 'application/problem+json', fault.body, headers);
      else ex.problem(fault.status, `injected fault: HTTP ${fault.status}`, headers);
      return true;
    }
    case 'reset':
      ex.reset();
      return true;
    case 'nonjson':
      ex.send(200, 'application/json', NOT_JSON);
      return true;
    case 'truncate':
      ex.truncate = true;
      return false;
    case 'latency':
      return !(await delay(fault.ms));
    case 'gzipBomb':
      ex.send(200, 'application/json', await gzipOfSpaces(fault.bytes), { 'content-encoding': 'gzip' });
      return true;
    case 'oversize':
      ex.oversize = fault.items;
      return false;
    case 'echoToken': {
      const token = String(ex.req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      ex.problem(fault.status, `access token ${token} is not allowed to list accounts`);
      return true;
    }
  }
}

const bombs = new Map<number, Promise<Buffer>>();

/** `bytes` spaces, gzipped (about a thousandth of the size), built in chunks and kept for reuse. */
function gzipOfSpaces(bytes: number): Promise<Buffer> {
  let bomb = bombs.get(bytes);
  if (!bomb) {
    bomb = (async () => {
      const gzip = createGzip({ level: 9 });
      const out: Buffer[] = [];
      gzip.on('data', (chunk: Buffer) => out.push(chunk));
      const chunk = Buffer.alloc(1 << 20, ' ');
      for (let left = bytes; left > 0; left -= chunk.length) {
        if (!gzip.write(left >= chunk.length ? chunk : chunk.subarray(0, left))) await once(gzip, 'drain');
      }
      gzip.end();
      await once(gzip, 'end');
      return Buffer.concat(out);
    })();
    bombs.set(bytes, bomb);
  }
  return bomb;
}
