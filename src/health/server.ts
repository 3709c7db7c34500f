// The daemon's HTTP port: /healthz (the process is alive and its event loop turns), /readyz
// (Redis and PostgreSQL answer; 503 otherwise) and /metrics (Prometheus text format).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Readiness } from './readiness.js';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startHealthServer(deps: {
  host: string;
  port: number;
  registry: Registry;
  readiness: Readiness;
  logger: Logger;
  /** Further read-only pages (the status page, the queue dashboard); each says whether it took the request. */
  routes?: ReadonlyArray<(request: IncomingMessage, response: ServerResponse, path: string) => boolean>;
}): Promise<HealthServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, contentType: string, body: string) => {
      response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (deps.routes?.some((route) => route(request, response, path!))) return;
    switch (path) {
      case '/healthz':
        return send(200, 'application/json', '{"status":"alive"}\n');
      case '/readyz':
        deps.readiness.check().then(
          (report) =>
            send(report.ready ? 200 : 503, 'application/json', `${JSON.stringify({ status: report.ready ? 'ready' : 'not ready', ...report })}\n`),
          (error: unknown) => send(500, 'text/plain', `${errorMessageOf(error)}\n`),
        );
        return;
      case '/metrics':
        deps.registry.metrics().then(
          (text) => send(200, deps.registry.contentType, text),
          (error: unknown) => send(500, 'text/plain', `${errorMessageOf(error)}\n`),
        );
        return;
      default:
        return send(404, 'text/plain', 'not found: try /healthz, /readyz or /metrics\n');
    }
  });
  // Probes come and go; keep-alive sockets must not hold the shutdown up.
  server.keepAliveTimeout = 1_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(deps.port, deps.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  deps.logger.info({ host: deps.host, port }, `health server listening on ${deps.host}:${port} (/healthz, /readyz, /metrics)`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
