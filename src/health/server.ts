// A health port: /healthz (the process is alive and its event loop turns), /readyz (the
// dependencies answer; 503 otherwise) and /metrics (Prometheus text format), plus the pages of
// `routes` (the worker's status page and Bull Board). Who may read what is access.ts's to say;
// every answer carries the baseline security headers, and the connection limits are those of
// every server of ours (src/http-server.ts). No answer names a host, port, address or path:
// errors are logged, and answered with a fixed text.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessageOf } from '../errors.js';
import { createLimitedServer, HEALTH_SERVER_LIMITS, listen, setBaselineHeaders } from '../http-server.js';
import type { Logger } from '../logger.js';
import { accessNotes, challenges, decide, type AccessPolicy, type Audience } from './access.js';
import type { Readiness } from './readiness.js';

export interface HealthServer {
  readonly port: number;
  close(): Promise<void>;
}

export type RouteHandler = (request: IncomingMessage, response: ServerResponse, path: string) => boolean;

/** Pages under `prefix` (the path itself and everything below it), for `audience`. */
export interface HealthRoute {
  prefix: string;
  audience: Audience;
  /** Answers the request, or returns false to leave it to the health server (a 404). */
  handle: RouteHandler;
}

export async function startHealthServer(deps: {
  host: string;
  port: number;
  registry: Registry;
  readiness: Readiness;
  logger: Logger;
  access: AccessPolicy;
  routes?: readonly HealthRoute[];
}): Promise<HealthServer> {
  const routes = deps.routes ?? [];
  const server: Server = createLimitedServer(HEALTH_SERVER_LIMITS, (request, response) => {
    setBaselineHeaders(response);
    const path = (request.url ?? '/').split('?')[0]!;
    const send = (status: number, contentType: string, body: string, headers: Record<string, string | string[]> = {}) => {
      response.writeHead(status, { 'content-type': contentType, ...headers });
      response.end(body);
    };
    const failed = (what: string) => (error: unknown) => {
      deps.logger.warn(`${what}: ${errorMessageOf(error)}`);
      send(500, 'text/plain; charset=utf-8', `${what} failed\n`);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });

    const route = routes.find((r) => path === r.prefix || path.startsWith(`${r.prefix}/`));
    const audience: Audience = route?.audience ?? (path === '/metrics' ? 'metrics' : 'probes');
    const verdict = decide(deps.access, audience, request);
    if (verdict === 'unauthorized') {
      return send(401, 'text/plain; charset=utf-8', 'unauthorized\n', { 'www-authenticate': challenges(deps.access.credentials) });
    }
    if (verdict === 'not_served') {
      return send(404, 'text/plain; charset=utf-8', 'not served on this address without credentials (see HEALTH_AUTH_* in docs/operations.md, "Security notes")\n');
    }
    if (route?.handle(request, response, path)) return;
    switch (path) {
      case '/healthz':
        return send(200, 'application/json', '{"status":"alive"}\n');
      case '/readyz':
        deps.readiness.check().then(
          (report) =>
            send(report.ready ? 200 : 503, 'application/json', `${JSON.stringify({ status: report.ready ? 'ready' : 'not ready', ...report })}\n`),
          failed('the readiness check'),
        );
        return;
      case '/metrics':
        deps.registry.metrics().then((text) => send(200, deps.registry.contentType, text), failed('collecting the metrics'));
        return;
      default:
        return send(404, 'text/plain; charset=utf-8', 'not found: try /healthz, /readyz or /metrics\n');
    }
  });
  await listen(server, deps.port, deps.host);
  const port = (server.address() as AddressInfo).port;
  const paths = ['/healthz', '/readyz', '/metrics', ...routes.map((r) => r.prefix)];
  deps.logger.info({ host: deps.host, port }, `health server listening on ${deps.host}:${port} (${paths.join(', ')})`);
  const served = routes.map((r) => ({ path: r.prefix, audience: r.audience }));
  for (const note of accessNotes(deps.access, `${deps.host}:${port}`, served)) deps.logger[note.level](note.msg);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
