// What every HTTP server of account-sync shares (the worker's health port, the receiver and
// its health port): time limits on each connection and request, a cap on connections, and the
// headers that tell a browser to take an answer for exactly what it says it is.
//
// Node closes a request whose headers (or whole request, body included) have not arrived in
// time with 408, but only checks every `connectionsCheckingInterval` (30 s by default: a
// dribbling client kept a connection 78 s), and never closes a connection that sends nothing
// at all; the idle timer below does, unless a request on it is being answered.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface ServerLimits {
  /** The request's headers must have arrived within this long. */
  headersTimeoutMs: number;
  /** The whole request, body included, must have arrived within this long (>= headersTimeoutMs). */
  requestTimeoutMs: number;
  /** Further connections are dropped as soon as they are accepted. */
  maxConnections: number;
  /** An idle kept-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
}

/** The health ports: probes, a scrape, a few browsers polling the status page. */
export const HEALTH_SERVER_LIMITS: ServerLimits = { headersTimeoutMs: 5_000, requestTimeoutMs: 7_000, maxConnections: 100, keepAliveTimeoutMs: 1_000 };

/** How often Node looks for requests past their time limits. */
const CHECK_EVERY_MS = 1_000;

export function createLimitedServer(limits: ServerLimits, handler: (request: IncomingMessage, response: ServerResponse) => void): Server {
  const answering = new Map<Socket, number>();
  const server = createServer(
    {
      connectionsCheckingInterval: CHECK_EVERY_MS,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
    },
    (request, response) => {
      const socket = request.socket;
      answering.set(socket, (answering.get(socket) ?? 0) + 1);
      response.once('close', () => {
        const left = (answering.get(socket) ?? 1) - 1;
        if (left > 0) answering.set(socket, left);
        else answering.delete(socket);
      });
      handler(request, response);
    },
  );
  server.maxConnections = limits.maxConnections;
  // A connection silent for this long is closed, unless one of its requests is being answered
  // (a slow database must not cut an answer off); a dribbling one is left to the 408 above.
  server.setTimeout(limits.headersTimeoutMs);
  server.on('timeout', (socket: Socket) => {
    if (!answering.has(socket)) socket.destroy();
  });
  // What Node answers itself (a request past its time limit, a malformed one) carries the
  // baseline headers too.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const inProgress = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (!socket.writable || inProgress || error.code === 'ECONNRESET') return void socket.destroy();
    const [status, text] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request'];
    const headers = Object.entries(BASELINE_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('');
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n${headers}\r\n`);
  });
  return server;
}

const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
};

/** Listens, and rejects (rather than emitting 'error' later) when the address cannot be bound. */
export function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Every answer starts with these; a page that is HTML replaces the Content-Security-Policy with
 * its own, which keeps `frame-ancestors 'none'`.
 */
export const BASELINE_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function setBaselineHeaders(response: ServerResponse): void {
  for (const [name, value] of Object.entries(BASELINE_HEADERS)) response.setHeader(name, value);
}
