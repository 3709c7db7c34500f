// What `account-sync status` reports: the last runs, the live accounts by status, whether
// the mirror is fresh, judged against the schedule (stale past twice its interval), and, once
// webhooks are in use, how fresh the webhook path keeps it; and secondary indexes a first sync
// dropped and has not built yet (analysts' queries are slower meanwhile).
import type { PrismaClient } from '../db/prisma.js';
import { mirrorFreshness, reportRuns, type MirrorState, type RunReport } from '../runs/report.js';
import { utcText } from '../runs/sql/runs.js';
import { readWebhookLag, type WebhookLag } from '../webhooks/lag-report.js';

export type { MirrorState, RunReport, WebhookLag };

export interface StatusReport {
  checkedAt: string;
  intervalMs: number;
  staleAfterMs: number;
  state: MirrorState;
  lastSuccess: { runId: string; finishedAt: string; ageMs: number } | null;
  accounts: { live: number; deleted: number; byStatus: Array<{ status: string; accounts: number }> };
  runs: RunReport[];
  /** null while webhook_events has no row. */
  webhooks: WebhookLag | null;
  /** Indexes a first sync dropped while loading and has not built yet (see src/sync/deferred-indexes.ts); null when none. */
  deferredIndexes: { runId: string; deferredAt: string; indexes: string[] } | null;
}

export async function buildStatusReport(
  prisma: PrismaClient,
  options: { runs: number; intervalMs: number; now: Date },
): Promise<StatusReport> {
  const [{ runs }, freshness, byStatus, deleted, webhooks, deferred] = await Promise.all([
    reportRuns(prisma, options.runs, options.now),
    mirrorFreshness(prisma, options.intervalMs, options.now),
    prisma.$queryRaw<Array<{ status: string; accounts: number }>>`
      SELECT status, accounts::int AS accounts FROM account_status_counts ORDER BY status`,
    prisma.account.count({ where: { deletedAt: { not: null } } }),
    readWebhookLag(prisma, options.now),
    prisma.$queryRaw<Array<{ run_id: string; deferred_at: string; indexes: string[] }>>`
      SELECT sync_run_id::text AS run_id, ${utcText('min(deferred_at)')} AS deferred_at,
             array_agg(index_name ORDER BY index_name) AS indexes
      FROM sync_deferred_indexes GROUP BY sync_run_id ORDER BY sync_run_id LIMIT 1`,
  ]);
  return {
    checkedAt: options.now.toISOString(),
    intervalMs: options.intervalMs,
    ...freshness,
    accounts: {
      live: byStatus.reduce((sum, row) => sum + row.accounts, 0),
      deleted,
      byStatus,
    },
    runs,
    webhooks,
    deferredIndexes: deferred[0] ? { runId: deferred[0].run_id, deferredAt: deferred[0].deferred_at, indexes: deferred[0].indexes } : null,
  };
}
