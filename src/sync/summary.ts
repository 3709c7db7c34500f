// How a finished run is told: one line for people, one JSON object for machines.
import type { RunSummary } from './run.js';

export function summaryLine(s: RunSummary): string {
  const seconds = (s.durationMs / 1000).toFixed(1);
  // Consistent: its pages prove it listed every account listed throughout it (see heal.ts).
  const healed = s.healRequests > 0 ? ` (${s.healRequests} window(s) fetched to close gaps the list's moves left)` : '';
  const walk = s.walkConsistent ? `walk consistent${healed}` : `walk inconsistent (${s.inconsistencies.join('; ')})`;
  // A full run that could not settle deletions says so: the mirror may still list accounts Upvest removed.
  const deletions = s.mode === 'full' && s.deletionsComplete === false ? `; deletions left to the next full run: ${s.deletionsNote}` : '';
  const head = `sync run ${s.runId} ${s.status} in ${seconds}s`;
  const body =
    `${s.accountsSeen} accounts seen (${s.inserted} new, ${s.updated} updated, ${s.unchanged} unchanged), ` +
    `${s.statusChanges} status changes, ${s.deletions} deleted, ${s.rejected} rejected, ${s.retries} retries, ${walk}${deletions}`;
  return s.status === 'succeeded' ? `${head}: ${body}` : `${head}: ${s.errorCode}: ${s.error} — ${body}`;
}

export function summaryJson(s: RunSummary): string {
  return JSON.stringify({
    run_id: String(s.runId),
    status: s.status,
    mode: s.mode,
    started_at: s.startedAt.toISOString(),
    finished_at: s.finishedAt.toISOString(),
    duration_ms: s.durationMs,
    total_count: s.totalCount,
    pages: s.pages,
    accounts_seen: s.accountsSeen,
    accounts_inserted: s.inserted,
    accounts_updated: s.updated,
    accounts_unchanged: s.unchanged,
    status_changes: s.statusChanges,
    deletions: s.deletions,
    rejected_records: s.rejected,
    retries: s.retries,
    walk_complete: s.walkComplete,
    walk_consistent: s.walkConsistent,
    inconsistencies: s.inconsistencies,
    heal_requests: s.healRequests,
    deletions_complete: s.deletionsComplete,
    deletions_note: s.deletionsNote,
    error_code: s.errorCode,
    error: s.error,
  });
}
