// Bull Board, the queue's own dashboard, read-only, mounted on the health port at
// /admin/queues when BULL_BOARD_ENABLED is set. Its Express adapter is an ordinary
// (request, response) handler, so the plain node:http server hands it the requests under its
// path, relative to that path, as Express would when mounting it.
// Read-only twice over: every queue is registered in Bull Board's read-only mode (its API
// answers 405 to retries, removals, pauses...), and the health server refuses every method but
// GET and HEAD before a request gets here.
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { RouteHandler } from './routes.js';

export function createQueueDashboard(queues: Queue[], basePath: string): RouteHandler {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(basePath);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: adapter,
    options: { uiConfig: { boardTitle: 'account-sync queue' } },
  });
  const app = adapter.getRouter() as (request: unknown, response: unknown) => void;
  return (request, response, path) => {
    if (path !== basePath && !path.startsWith(`${basePath}/`)) return false;
    request.url = request.url!.slice(basePath.length) || '/';
    app(request, response);
    return true;
  };
}
