// The status page and Bull Board, served by the daemon on HEALTH_PORT.
import { section, withDefault } from './setting.js';
import { trueOrFalse, wholeNumber } from './values.js';

export interface StatusPageConfig {
  /** Serve /status (the status page and its JSON) on the health port. */
  enabled: boolean;
  /** How often the page asks for news; the browser is told, the server is not bound to it. */
  pollMs: number;
  /** The costly figures (accounts by status, daily trend, changes per hour) are recomputed at most this often. */
  refreshMs: number;
  /** Runs listed and charted. */
  runs: number;
  /** Serve Bull Board, read-only, at /admin/queues. */
  bullBoard: boolean;
  /** Serve the status page without credentials wherever the health server listens. */
  public: boolean;
}

export const statusPage = section(
  {
    STATUS_PAGE_ENABLED: withDefault(trueOrFalse, 'true', 'serve the status page at /status'),
    STATUS_PAGE_POLL_MS: withDefault(wholeNumber(250, 600_000), '2000', 'how often an open status page asks for news'),
    STATUS_PAGE_REFRESH_MS: withDefault(wholeNumber(0, 3_600_000), '10000', "the status page's costly figures are recomputed at most this often"),
    STATUS_PAGE_RUNS: withDefault(wholeNumber(1, 500), '30', 'runs the status page lists and charts'),
    BULL_BOARD_ENABLED: withDefault(trueOrFalse, 'false', 'serve Bull Board read-only at /admin/queues'),
    STATUS_PAGE_PUBLIC: withDefault(
      trueOrFalse,
      'false',
      'serve the status page without credentials even beyond loopback (warned at start; Bull Board and /metrics keep theirs)',
    ),
  },
  (v): StatusPageConfig => ({
    enabled: v.STATUS_PAGE_ENABLED,
    pollMs: v.STATUS_PAGE_POLL_MS,
    refreshMs: v.STATUS_PAGE_REFRESH_MS,
    runs: v.STATUS_PAGE_RUNS,
    bullBoard: v.BULL_BOARD_ENABLED,
    public: v.STATUS_PAGE_PUBLIC,
  }),
);
