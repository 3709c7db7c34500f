// Prometheus metrics of the daemon (prom-client, its own registry). Run totals are counted
// when a run ends for good (succeeded or failed): an interrupted run is resumed later and
// reports everything it did then, so counting it twice would inflate the totals.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { errorCodeOf, type UpvestError } from '../errors.js';
import type { JobOutcome } from '../queue/job-outcome.js';
import type { Release } from '../release.js';

export interface MetricsSources {
  /** When the last successful run finished, from the database (shared by every replica). */
  lastSuccess(): Promise<Date | null>;
  /** Jobs of the queue by state. */
  queueCounts(): Promise<Record<string, number>>;
  now?: () => number;
}

export interface SyncMetrics {
  readonly registry: Registry;
  observeOutcome(outcome: JobOutcome): void;
  runStarted(): void;
  upstreamResponse(endpoint: string, status: number | undefined): void;
  upstreamRetry(error: UpvestError): void;
  rateLimitPause(): void;
  dependency(name: string, up: boolean): void;
}

export function createMetrics(sources: MetricsSources): SyncMetrics {
  const now = sources.now ?? Date.now;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'account_sync_process_' });
  const registers = [registry];

  const counter = (name: string, help: string, labelNames: string[] = []) =>
    new Counter({ name, help, labelNames, registers });
  const runs = counter(
    'account_sync_runs_total',
    'Sync runs by outcome: succeeded, failed, interrupted (resumed later), abandoned (closed as failed), ' +
      'skipped (another run held the lock), error (the database was unreachable).',
    ['outcome'],
  );
  const resumed = counter('account_sync_runs_resumed_total', 'Runs continued from their committed pages after their process stopped or died.');
  const duration = new Histogram({
    name: 'account_sync_run_duration_seconds',
    help: 'Duration of runs that ended for good, from their start (a resumed run counts from its first start).',
    labelNames: ['outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200],
    registers,
  });
  const accountsSeen = counter('account_sync_accounts_seen_total', 'Distinct accounts listed by runs that ended for good.');
  const accountsWritten = counter('account_sync_accounts_written_total', 'Accounts written to the mirror, by kind (inserted, updated).', ['kind']);
  const statusChanges = counter('account_sync_status_changes_total', 'Account status changes recorded.');
  const deletions = counter('account_sync_deletions_total', 'Accounts marked deleted.');
  const rejected = counter('account_sync_rejected_records_total', 'Account records that failed validation.');
  const requests = counter(
    'account_sync_upstream_requests_total',
    'Requests to Upvest by endpoint and HTTP status ("none" when no answer came).',
    ['endpoint', 'status'],
  );
  const retries = counter(
    'account_sync_upstream_retries_total',
    'Retried Upvest requests by HTTP status ("none" when no answer came) and error code.',
    ['status', 'code'],
  );
  const pauses = counter('account_sync_rate_limit_pauses_total', 'Times the queue was paused after a run ended in a 429 storm.');
  const inProgress = new Gauge({ name: 'account_sync_run_in_progress', help: '1 while this process runs a sync.', registers });
  const up = new Gauge({
    name: 'account_sync_dependency_up',
    help: '1 when the dependency answered the last readiness check.',
    labelNames: ['dependency'],
    registers,
  });

  let lastKnownSuccess: Date | null = null;
  // Both gauges below read it in one scrape, which collects them concurrently: one query each second.
  let refreshing: { at: number; promise: Promise<Date | null> } | null = null;
  const refreshLastSuccess = (): Promise<Date | null> => {
    if (refreshing && now() - refreshing.at < 1_000) return refreshing.promise;
    const promise = sources.lastSuccess().then(
      (last) => (lastKnownSuccess = last ?? lastKnownSuccess),
      () => lastKnownSuccess,
    );
    refreshing = { at: now(), promise };
    return promise;
  };
  new Gauge({
    name: 'account_sync_last_success_timestamp_seconds',
    help: 'When the last successful run finished (Unix time; 0 if none has).',
    registers,
    async collect() {
      const last = await refreshLastSuccess();
      this.set(last ? last.getTime() / 1000 : 0);
    },
  });
  new Gauge({
    name: 'account_sync_seconds_since_last_success',
    help: 'Seconds since the last successful run finished (+Inf if none has).',
    registers,
    async collect() {
      const last = await refreshLastSuccess();
      this.set(last ? Math.max(0, (now() - last.getTime()) / 1000) : Number.POSITIVE_INFINITY);
    },
  });
  new Gauge({
    name: 'account_sync_queue_jobs',
    help: 'Sync jobs in the queue by state.',
    labelNames: ['state'],
    registers,
    async collect() {
      const counts = await sources.queueCounts().catch(() => null);
      if (counts) for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  // Present from the start, so that a rate of zero is a zero and not a missing series.
  for (const outcome of ['succeeded', 'failed', 'interrupted', 'incomplete', 'abandoned', 'skipped', 'error']) runs.inc({ outcome }, 0);
  inProgress.set(0);

  return {
    registry,
    runStarted() {
      inProgress.set(1);
    },
    observeOutcome(outcome) {
      inProgress.set(0);
      if (outcome.kind === 'threw') return runs.inc({ outcome: 'error' });
      if (outcome.kind === 'locked') return runs.inc({ outcome: 'skipped' });
      if (outcome.closed.length > 0) runs.inc({ outcome: 'abandoned' }, outcome.closed.length);
      if (outcome.resumed) resumed.inc();
      const s = outcome.summary;
      runs.inc({ outcome: s.status });
      if (s.status === 'interrupted') return;
      duration.observe({ outcome: s.status }, s.durationMs / 1000);
      accountsSeen.inc(s.accountsSeen);
      accountsWritten.inc({ kind: 'inserted' }, s.inserted);
      accountsWritten.inc({ kind: 'updated' }, s.updated);
      statusChanges.inc(s.statusChanges);
      deletions.inc(s.deletions);
      rejected.inc(s.rejected);
      if (s.status === 'succeeded') lastKnownSuccess = s.finishedAt;
    },
    upstreamResponse(endpoint, status) {
      requests.inc({ endpoint, status: status === undefined ? 'none' : String(status) });
    },
    upstreamRetry(error) {
      retries.inc({ status: error.status === undefined ? 'none' : String(error.status), code: errorCodeOf(error) });
    },
    rateLimitPause() {
      pauses.inc();
    },
    dependency(name, isUp) {
      up.set({ dependency: name }, isUp ? 1 : 0);
    },
  };
}

/**
 * account_sync_build_info{version, commit} 1: which release each replica runs, so that a
 * rolling deploy can be followed on a dashboard (commit "unknown" when the build recorded none).
 */
export function registerBuildInfo(registry: Registry, release: Release): void {
  new Gauge({
    name: 'account_sync_build_info',
    help: 'Always 1; the labels say which release of account-sync this process runs.',
    labelNames: ['version', 'commit'],
    registers: [registry],
  }).set({ version: release.version, commit: release.commit ?? 'unknown' }, 1);
}
