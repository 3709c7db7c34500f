// `account-sync status` for people (aligned plain-text tables) and for machines (one JSON object).
import type { RunReport, StatusReport, WebhookLag } from './status-report.js';

export function statusJson(report: StatusReport): string {
  return JSON.stringify({
    checked_at: report.checkedAt,
    state: report.state,
    stale: report.state !== 'ok',
    interval_ms: report.intervalMs,
    stale_after_ms: report.staleAfterMs,
    last_success: report.lastSuccess && {
      run_id: Number(report.lastSuccess.runId),
      finished_at: report.lastSuccess.finishedAt,
      age_ms: report.lastSuccess.ageMs,
    },
    accounts: {
      live: report.accounts.live,
      deleted: report.accounts.deleted,
      by_status: Object.fromEntries(report.accounts.byStatus.map((row) => [row.status, row.accounts])),
    },
    runs: report.runs.map((run) => ({
      id: Number(run.id),
      mode: run.mode,
      status: run.status,
      started_at: run.startedAt,
      finished_at: run.finishedAt,
      duration_ms: run.durationMs,
      in_progress: run.inProgress,
      accounts_seen: run.accountsSeen,
      accounts_written: run.accountsWritten,
      accounts_inserted: run.accountsInserted,
      accounts_updated: run.accountsUpdated,
      status_changes: run.statusChanges,
      deletions: run.deletions,
      rejected_records: run.rejectedRecords,
      error_code: run.errorCode,
      error: run.error,
    })),
    webhooks: report.webhooks && webhooksJson(report.webhooks),
    deferred_indexes: report.deferredIndexes && {
      run_id: Number(report.deferredIndexes.runId),
      deferred_at: report.deferredIndexes.deferredAt,
      indexes: report.deferredIndexes.indexes,
    },
  });
}

function webhooksJson(lag: WebhookLag) {
  const last = lag.lastApplied;
  return {
    last_applied: last && {
      event_id: last.eventId,
      type: last.type,
      account_id: last.accountId,
      created_at: last.createdAt,
      processed_at: last.processedAt,
      lag_ms: last.lagMs,
      age_ms: last.ageMs,
    },
    last_hour: { applied: lag.lastHour.applied, lag_p50_ms: lag.lastHour.p50Ms, lag_p95_ms: lag.lastHour.p95Ms, lag_max_ms: lag.lastHour.maxMs },
    pending: { events: lag.pending.events, oldest_created_at: lag.pending.oldestCreatedAt, oldest_age_ms: lag.pending.oldestAgeMs },
    rejected_last_hour: { events: lag.rejectedLastHour.events, not_ours: lag.rejectedLastHour.notOurs },
  };
}

/** The webhook path's freshness, for people: the last event applied, the last hour, what is pending. */
export function webhookLines(lag: WebhookLag): string[] {
  const last = lag.lastApplied;
  const hour = lag.lastHour;
  const pending = lag.pending;
  return [
    last === null
      ? 'Webhooks: no event has been applied yet.'
      : `Webhooks: the last event applied (${last.type}, ${formatDuration(last.ageMs)} ago at ${last.processedAt}) ` +
        `reached the mirror ${formatDuration(last.lagMs)} after Upvest created it.`,
    hour.applied === 0
      ? '  Last hour: no event applied.'
      : `  Last hour: ${formatCount(hour.applied)} event(s) applied, lag p50 ${formatDuration(hour.p50Ms!)}, ` +
        `p95 ${formatDuration(hour.p95Ms!)}, max ${formatDuration(hour.maxMs!)}.`,
    pending.events === 0
      ? '  Pending: none.'
      : `  Pending: ${formatCount(pending.events)} event(s), the oldest created ${formatDuration(pending.oldestAgeMs!)} ago.`,
    lag.rejectedLastHour.events === 0
      ? '  Rejected in the last hour: none.'
      : `  Rejected in the last hour: ${formatCount(lag.rejectedLastHour.events)} event(s), ` +
        `${formatCount(lag.rejectedLastHour.notOurs)} of them not from our subscriptions.`,
  ];
}

export function statusText(report: StatusReport): string {
  const lines: string[] = [];
  const staleAfter = formatDuration(report.staleAfterMs);
  if (report.lastSuccess === null) {
    lines.push('WARNING: no sync run has succeeded yet: the mirror is empty or incomplete.');
  } else {
    const age = formatDuration(report.lastSuccess.ageMs);
    if (report.state === 'stale') {
      lines.push(
        `WARNING: the mirror is stale: the last successful run (#${report.lastSuccess.runId}) finished ${age} ago, ` +
          `more than ${staleAfter} (twice SYNC_INTERVAL_MS) ago.`,
      );
    } else {
      lines.push(
        `Mirror is fresh: the last successful run (#${report.lastSuccess.runId}) finished ${age} ago ` +
          `(${report.lastSuccess.finishedAt}); stale after ${staleAfter}.`,
      );
    }
  }
  if (report.webhooks) lines.push('', ...webhookLines(report.webhooks));
  if (report.deferredIndexes) {
    const deferred = report.deferredIndexes;
    lines.push(
      '',
      `Secondary indexes not built yet: ${deferred.indexes.length} dropped at ${deferred.deferredAt} by run #${deferred.runId}, ` +
        'the first sync of an empty mirror, which builds them when its walk ends (or the next run does, first): ' +
        `${deferred.indexes.join(', ')}. Queries that would use them are slower until then.`,
    );
  }
  lines.push('');
  lines.push(`Live accounts: ${formatCount(report.accounts.live)} (${formatCount(report.accounts.deleted)} deleted)`);
  if (report.accounts.byStatus.length > 0) {
    lines.push(
      ...table(
        ['STATUS', 'ACCOUNTS'],
        report.accounts.byStatus.map((row) => [row.status, formatCount(row.accounts)]),
        [false, true],
      ).map((line) => `  ${line}`),
    );
  }
  lines.push('');
  if (report.runs.length === 0) {
    lines.push('No sync runs yet.');
  } else {
    lines.push(`Last ${report.runs.length} run(s), newest first:`);
    lines.push(
      ...table(
        ['RUN', 'MODE', 'STARTED (UTC)', 'DURATION', 'OUTCOME', 'SEEN', 'WRITTEN', 'CHANGES', 'DELETED', 'REJECTED'],
        report.runs.map(runCells),
        [true, false, false, true, false, true, true, true, true, true],
      ).map((line) => `  ${line}`),
    );
  }
  return lines.join('\n');
}

function runCells(run: RunReport): string[] {
  const outcome = run.errorCode ? `${run.status} (${run.errorCode})` : run.inProgress ? `${run.status}…` : run.status;
  return [
    run.id,
    run.mode,
    run.startedAt.slice(0, 19).replace('T', ' '),
    formatDuration(run.durationMs),
    outcome,
    formatCount(run.accountsSeen),
    formatCount(run.accountsWritten),
    formatCount(run.statusChanges),
    formatCount(run.deletions),
    formatCount(run.rejectedRecords),
  ];
}

function table(header: string[], rows: string[][], alignRight: boolean[]): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** 950ms, 12.3s, 4m 05s, 2h 03m, 3d 04h: two units at most. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const totalSeconds = Math.floor(s);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m ${pad(totalSeconds % 60)}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  if (totalMinutes < 24 * 60) return `${Math.floor(totalMinutes / 60)}h ${pad(totalMinutes % 60)}m`;
  const totalHours = Math.floor(totalMinutes / 60);
  return `${Math.floor(totalHours / 24)}d ${pad(totalHours % 24)}h`;
}
