// What the worker adds to its health port, as its settings say: the status page (on by
// default) and Bull Board (off unless BULL_BOARD_ENABLED), each with whom it is for: people
// with the credentials (src/health/access.ts), or anyone for a status page made public.
import type { Queue } from 'bullmq';
import type { StatusPageConfig } from '../config/status-page.js';
import type { PrismaClient } from '../db/prisma.js';
import type { Logger } from '../logger.js';
import { createStatusPage, STATUS_PATH, type RouteHandler } from './routes.js';

export interface StatusRoute {
  prefix: string;
  audience: 'people' | 'public';
  handle: RouteHandler;
}

export interface StatusRoutes {
  routes: StatusRoute[];
  warm(): void;
}

/** Where Bull Board is served; kept here so that Express is loaded only when it is enabled. */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

export async function createStatusRoutes(deps: {
  prisma: PrismaClient;
  queue: Queue;
  config: StatusPageConfig;
  intervalMs: number;
  logger: Logger;
}): Promise<StatusRoutes> {
  const routes: StatusRoute[] = [];
  const dashboard = deps.config.bullBoard ? QUEUE_DASHBOARD_PATH : null;
  const page = deps.config.enabled
    ? createStatusPage({ prisma: deps.prisma, config: deps.config, intervalMs: deps.intervalMs, logger: deps.logger, queueDashboardPath: dashboard })
    : null;
  if (page) routes.push({ prefix: STATUS_PATH, audience: deps.config.public ? 'public' : 'people', handle: page.handle });
  if (dashboard) {
    const { createQueueDashboard } = await import('./queue-dashboard.js');
    routes.push({ prefix: dashboard, audience: 'people', handle: createQueueDashboard([deps.queue], dashboard) });
  }
  return { routes, warm: () => page?.warm() };
}
