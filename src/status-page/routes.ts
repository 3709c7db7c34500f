// The status page's HTTP routes on the health port, all read-only (GET and HEAD; the health
// server refuses other methods before they get here):
//   /status                 the page (HTML; its scripts and styles under /status/assets/)
//   /status/api/live        freshness, last runs, run in progress: read exactly on each request
//   /status/api/figures     accounts by status, daily trend, changes per hour: cached (cache.ts)
// Polling rather than server-sent events: each answer is a few small index lookups, a poll is
// stateless (any replica behind a load balancer answers it, nothing to hold open or resume),
// and the page's interval bounds the load whatever the number of runs or pages.
// Nothing here leaks: database errors are logged and answered with a fixed text, and the only
// free text shown is a failed run's stored error, redacted of secrets before it was stored and
// of hosts, addresses, ports and paths before it is served (public-text.ts). Who may ask is
// decided by the health server (src/health/access.ts) before a request gets here.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatusPageConfig } from '../config/status-page.js';
import type { PrismaClient } from '../db/prisma.js';
import { errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { currentRelease, describeRelease } from '../release.js';
import { loadAssets, type Asset } from './assets.js';
import { createVersionedCache } from './cache.js';
import { computeMirrorFigures, withTrendDays, type MirrorFigures } from './figures.js';
import { readLiveStatus, type LiveStatus } from './live.js';
import { publicText } from './public-text.js';

export type RouteHandler = (request: IncomingMessage, response: ServerResponse, path: string) => boolean;

export const STATUS_PATH = '/status';
/** Writes made by hand move no run; figures are recomputed at least this often anyway. */
const MAX_FIGURES_AGE_MS = 5 * 60_000;
const TREND_RANGES = [7, 30, 90, 365];

const SECURITY_HEADERS = {
  // Everything the page uses comes from here: nothing is fetched from elsewhere, nothing framed.
  'content-security-policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** What the page is shown of the runs: an error as its code and a text without hosts or paths. */
function served(status: LiveStatus): LiveStatus {
  return { ...status, runs: status.runs.map((run) => (run.error === null ? run : { ...run, error: publicText(run.error) })) };
}

export interface StatusPage {
  handle: RouteHandler;
  /** Computes the cached figures once, so that the first visitor does not wait for them. */
  warm(): void;
  /** Settles when no computation is under way (tests, benchmarks). */
  idle(): Promise<void>;
}

export function createStatusPage(deps: {
  prisma: PrismaClient;
  config: StatusPageConfig;
  /** The schedule's interval: the mirror is stale past twice it. */
  intervalMs: number;
  logger: Logger;
  /** Where the queue dashboard is, when it is served. */
  queueDashboardPath?: string | null;
  now?: () => Date;
}): StatusPage {
  const now = deps.now ?? (() => new Date());
  const assets = loadAssets();
  const page = withRelease(assets.get('index.html')!);
  const figures = figuresCache(deps.prisma, deps.config.refreshMs, deps.logger, now);
  const live = () => readLiveStatus(deps.prisma, { runs: deps.config.runs, intervalMs: deps.intervalMs, now: now() });

  const unavailable = (response: ServerResponse, what: string) => (error: unknown) => {
    deps.logger.warn(`status page: ${what}: ${errorMessageOf(error)}`);
    sendJson(response, 503, { error: 'the mirror database did not answer' });
  };

  const handle: RouteHandler = (request, response, path) => {
    if (path !== STATUS_PATH && !path.startsWith(`${STATUS_PATH}/`)) return false;
    const sub = path.slice(STATUS_PATH.length);
    if (sub === '' || sub === '/') return sendFile(response, page, 'no-store');
    if (sub.startsWith('/assets/')) {
      const asset = assets.get(sub.slice('/assets/'.length));
      return asset ? sendFile(response, asset, 'no-cache') : false;
    }
    if (sub === '/api/live') {
      live().then(
        (status) =>
          sendJson(response, 200, {
            ...served(status),
            pollMs: deps.config.pollMs,
            trendRanges: TREND_RANGES,
            queueDashboard: deps.queueDashboardPath ?? null,
          }),
        unavailable(response, 'reading the runs'),
      );
      return true;
    }
    if (sub === '/api/figures') {
      const days = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('days') ?? 30);
      if (!TREND_RANGES.includes(days)) {
        sendJson(response, 400, { error: `days must be one of ${TREND_RANGES.join(', ')}` });
        return true;
      }
      live()
        .then((status) => figures.get(status.mirrorVersion))
        .then(
          (cached) =>
            sendJson(response, 200, {
              computedAt: new Date(cached.computedAt).toISOString(),
              current: cached.current,
              version: cached.version,
              ...withTrendDays(cached.value, days),
            }),
          unavailable(response, 'computing the figures'),
        );
      return true;
    }
    return false;
  };

  return {
    handle,
    warm() {
      void live().then(
        (status) => figures.warm(status.mirrorVersion),
        (error: unknown) => deps.logger.debug(`status page: warming up: ${errorMessageOf(error)}`),
      );
    },
    idle: () => figures.idle(),
  };
}

/** The mirror figures, recomputed when a run moved the mirror's version (or when they are too old). */
function figuresCache(prisma: PrismaClient, refreshMs: number, logger: Logger, now: () => Date) {
  return createVersionedCache<MirrorFigures>({
    compute: () => computeMirrorFigures(prisma, now()),
    minIntervalMs: refreshMs,
    maxAgeMs: MAX_FIGURES_AGE_MS,
    logger,
    what: 'the mirror figures',
    now: () => now().getTime(),
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...SECURITY_HEADERS });
  response.end(`${JSON.stringify(body)}\n`);
}

/** The page or one of its assets; always true (the route was answered). */
function sendFile(response: ServerResponse, file: Asset, cacheControl: 'no-store' | 'no-cache'): true {
  response.writeHead(200, { 'content-type': file.contentType, 'cache-control': cacheControl, ...SECURITY_HEADERS });
  response.end(file.body);
  return true;
}

/** The page with the release this worker runs in its footer (the page's one server-side fill-in). */
function withRelease(page: Asset): Asset {
  const text = `account-sync ${describeRelease(currentRelease())}`.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return { ...page, body: Buffer.from(page.body.toString('utf8').replace('<!-- release -->', text)) };
}
