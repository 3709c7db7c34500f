// Bull Board, the queue's own dashboard, read-only, mounted on the health port at
// /admin/queues when BULL_BOARD_ENABLED is set. Its Express adapter is an ordinary
// (request, response) handler, so the plain node:http server hands it the requests under its
// path, relative to that path, as Express would when mounting it.
// Read-only twice over: every queue is registered in Bull Board's read-only mode (its API
// answers 405 to retries, removals, pauses...), and the health server refuses every method but
// GET and HEAD before a request gets here.
// It shows nothing of where things run: its Redis panel (server version, OS, port) and its
// workers list (client names, which are host:pid, and Redis client addresses) are switched
// off; every JSON answer of its API goes through publicJson, without the jobs' stack traces
// (file paths) and without `processedBy` (the worker's host:pid); Express's error pages run in
// production mode (no stack traces), and its X-Powered-By header is off.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { ServerResponse } from 'node:http';
import { publicJson } from './public-text.js';
import type { RouteHandler } from './routes.js';

/** Bull Board's UI: its scripts and styles from here (inline styles too), its fonts nowhere (system fonts). */
const DASHBOARD_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
  "frame-ancestors 'none'; base-uri 'self'; form-action 'none'";

export function createQueueDashboard(queues: Queue[], basePath: string): RouteHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'account-sync queue', hideRedisDetails: true, showWorkers: false, hideDocsLink: true } },
  });
  const app = adapter.getRouter() as ((request: unknown, response: unknown) => void) & { set(name: string, value: unknown): void };
  app.set('env', 'production');
  app.set('x-powered-by', false);
  return (request, response, path) => {
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false;
    request.url = request.url!.slice(basePath.length) || '/';
    response.setHeader('content-security-policy', DASHBOARD_CSP);
    scrubJsonAnswers(response);
    app(request, response);
    return true;
  };
}

/** Every JSON body the dashboard sends is rewritten before it goes out (Express sends it with one end()). */
function scrubJsonAnswers(response: ServerResponse): void {
  const end = response.end.bind(response) as (...args: unknown[]) => ServerResponse;
  response.end = ((...args: unknown[]) => {
    const [chunk] = args;
    const type = String(response.getHeader('content-type') ?? '');
    if (!type.startsWith('application/json') || chunk === undefined || typeof chunk === 'function' || response.headersSent) return end(...args);
    let body: string;
    try {
      body = JSON.stringify(publicJson(withoutWhereabouts(JSON.parse(Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk)))));
    } catch {
      body = JSON.stringify({ error: 'unavailable' });
    }
    response.removeHeader('etag');
    response.setHeader('content-length', Buffer.byteLength(body));
    return end(body);
  }) as typeof response.end;
}

/** Jobs without their stack traces and the worker that processed them. */
function withoutWhereabouts(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutWhereabouts);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === 'processedBy') continue;
    out[key] = key === 'stacktrace' && Array.isArray(item) ? [] : withoutWhereabouts(item);
  }
  return out;
}
