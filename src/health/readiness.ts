// Whether the daemon can do its work: Redis and PostgreSQL answer (for the worker, also: the
// database's schema is this release's). Checked on every /readyz and on a timer, so that an
// outage and the recovery from it are logged even when nobody asks.
import { oneLineMessage } from '../errors.js';
import type { Logger } from '../logger.js';

export type Check = () => Promise<unknown>;

/**
 * Only up or down per dependency: /readyz may be reachable by anyone, and a driver's message
 * names hosts and users. The reason goes to the log instead.
 */
export interface ReadinessReport {
  ready: boolean;
  checks: Record<string, { up: boolean }>;
}

export interface Readiness {
  check(): Promise<ReadinessReport>;
  stop(): void;
}

export function createReadiness(deps: {
  checks: Record<string, Check>;
  /** How the log words a check going down and coming back; "unreachable" and "reachable again" unless said here. */
  wording?: Record<string, { down: string; up: string }>;
  timeoutMs: number;
  everyMs: number;
  logger: Logger;
  onResult?: (name: string, up: boolean) => void;
}): Readiness {
  const known = new Map<string, boolean>();
  const runOne = async (name: string, check: Check) => {
    try {
      await withTimeout(check(), deps.timeoutMs, `no answer within ${deps.timeoutMs} ms`);
      return { name, up: true as const };
    } catch (error) {
      return { name, up: false as const, error: oneLineMessage(error) };
    }
  };
  const check = async (): Promise<ReadinessReport> => {
    const results = await Promise.all(Object.entries(deps.checks).map(([name, c]) => runOne(name, c)));
    const report: ReadinessReport = { ready: results.every((r) => r.up), checks: {} };
    for (const result of results) {
      report.checks[result.name] = { up: result.up };
      deps.onResult?.(result.name, result.up);
      const before = known.get(result.name);
      known.set(result.name, result.up);
      if (before === result.up || (before === undefined && result.up)) continue;
      const words = deps.wording?.[result.name] ?? { down: 'unreachable', up: 'reachable again' };
      if (result.up) deps.logger.info({ dependency: result.name }, `${result.name} ${words.up}`);
      else deps.logger.error({ dependency: result.name, error: result.error }, `${result.name} ${words.down}: ${result.error}`);
    }
    return report;
  };
  const timer = setInterval(() => void check(), deps.everyMs);
  timer.unref();
  return {
    check,
    stop() {
      clearInterval(timer);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
