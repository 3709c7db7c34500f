// A value that is costly to compute, kept until the data it was computed from changes.
// Callers pass the current version of that data (cheap to read); a different version starts
// one recomputation in the background and, meanwhile, the previous value is served marked as
// not current: a request never waits for the costly work, except the very first one.
// Recomputations are at least `minIntervalMs` apart, so a mirror that changes with every page
// of a run costs one recomputation per interval, not one per request; `maxAgeMs` bounds how
// long a value lives even when the version does not move (writes made by hand, not by a run).
import { errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';

export interface Cached<T> {
  value: T;
  /** The version the value was computed at (read before the computation started). */
  version: string;
  computedAt: number;
  /** Whether `version` is the one asked for. */
  current: boolean;
}

export interface VersionedCache<T> {
  get(version: string): Promise<Cached<T>>;
  /** Starts a computation unless one is under way (at start-up, so the first visitor does not wait). */
  warm(version: string): void;
  /** Settles when the computation under way, if any, has. */
  idle(): Promise<void>;
}

export function createVersionedCache<T>(deps: {
  compute: () => Promise<T>;
  minIntervalMs: number;
  maxAgeMs: number;
  logger: Logger;
  what: string;
  now?: () => number;
}): VersionedCache<T> {
  const now = deps.now ?? Date.now;
  let entry: { value: T; version: string; computedAt: number } | null = null;
  let inFlight: Promise<void> | null = null;
  let lastStart = Number.NEGATIVE_INFINITY;

  const start = (version: string): Promise<void> => {
    lastStart = now();
    const startedAt = lastStart;
    inFlight = deps
      .compute()
      .then((value) => {
        entry = { value, version, computedAt: startedAt };
      })
      .finally(() => {
        inFlight = null;
      });
    // A failure leaves the previous value in place; the next request after the interval tries again.
    inFlight.catch((error: unknown) => deps.logger.warn(`status page: computing ${deps.what} failed: ${errorMessageOf(error)}`));
    return inFlight;
  };
  const view = (version: string): Cached<T> => {
    const e = entry!;
    return { ...e, current: e.version === version && now() - e.computedAt < deps.maxAgeMs };
  };

  return {
    async get(version) {
      if (entry === null) {
        await (inFlight ?? start(version));
        if (entry === null) throw new Error(`${deps.what} could not be computed`);
        return view(version);
      }
      const cached = view(version);
      if (!cached.current && inFlight === null && now() - lastStart >= deps.minIntervalMs) void start(version).catch(() => undefined);
      return cached;
    },
    warm(version) {
      if (inFlight === null) void start(version).catch(() => undefined);
    },
    async idle() {
      await inFlight?.catch(() => undefined);
    },
  };
}
