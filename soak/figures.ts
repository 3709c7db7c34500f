// What the soak measured, and how it prints it.
import type { SimulatorStats } from '../src/simulator/index.js';
import type { Upstream } from './upstream.js';

export class Figures {
  readonly started = Date.now();
  episodes = 0;
  readonly launched: Record<string, number> = {};
  readonly exits: Record<string, number> = {};
  readonly disruptions: Record<string, number> = {};
  readonly kills: Record<string, number> = {};
  readonly restarts: Record<string, number> = {};
  /** --webhooks: the schedule's draws, the switch uses armed, and the lines WebhookSoak prints. */
  readonly webhookDisruptions: Record<string, number> = {};
  readonly webhookArmed: Record<string, number> = {};
  readonly webhookLines: string[] = [];
  /** Accounts removed after a kill, ahead of the walk that resumes the killed run. */
  removedAhead = 0;
  runChecks = 0;
  runChecksSkipped: Record<string, number> = {};
  rowsChecked = 0;
  historyRows = 0;
  mustSee = 0;
  readonly mismatches: string[] = [];
  readonly knownGap: string[] = [];
  readonly warnings: string[] = [];
  readonly notes: string[] = [];

  count(table: Record<string, number>, key: string, n = 1): void {
    table[key] = (table[key] ?? 0) + n;
  }

  mismatch(context: string, lines: string[]): void {
    for (const line of lines) this.mismatches.push(`${context}: ${line}`);
  }
}

export interface FinalState {
  runsByOutcome: Record<string, number>;
  /** Windows fetched to close gaps pages left (sync_runs.heal_requests), and by how many runs. */
  healRequests: number;
  healedRuns: number;
  resumedRuns: number;
  resumptions: number;
  stats: SimulatorStats;
  upstream: Upstream;
  accountsAtEnd: number;
  seed: number;
  minutes: number;
  webhooks?: boolean;
}

const table = (t: Record<string, number>) =>
  Object.entries(t)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || 'none';

const sum = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);

/** Requests by route: the lookups of single accounts (GET /accounts/{id}) as one. */
function byRoute(byPath: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [path, n] of Object.entries(byPath)) {
    const route = path.startsWith('/accounts/') ? '/accounts/{id}' : path;
    out[route] = (out[route] ?? 0) + n;
  }
  return out;
}

export function report(f: Figures, s: FinalState): string {
  const minutes = ((Date.now() - f.started) / 60_000).toFixed(1);
  const u = s.upstream.counts;
  const lines = [
    `account-sync soak — seed ${s.seed}, ${minutes} min (asked ${s.minutes}), ${f.episodes} episodes${s.webhooks ? ', with webhooks' : ''}`,
    `  runs                 ${sum(s.runsByOutcome)} in sync_runs: ${table(s.runsByOutcome)}; ${s.resumedRuns} resumed (${s.resumptions} resumptions)`,
    `  processes            ${table(f.launched)}; exits: ${table(f.exits)}`,
    `  upstream changes     ${u.statusChanges} status changes, ${u.renames} renames, ${u.userChanges} owner changes, ${u.added} added, ${u.removed} removed, ${u.restored} listed again; ${s.accountsAtEnd} accounts listed at the end`,
    `  requests             ${s.stats.requests} (${table(byRoute(s.stats.byPath))}), ${s.stats.tokensIssued} tokens issued`,
    `  faults injected      ${s.stats.faultsInjected} (${((100 * s.stats.faultsInjected) / Math.max(1, s.stats.requests)).toFixed(1)}% of requests): ${table(s.stats.faultsByKind)}`,
    `  disruptions          ${table(f.disruptions)}`,
    `  kills (SIGKILL)      ${sum(f.kills)}: ${table(f.kills)}; ${f.removedAhead} accounts removed after them, ahead of the resumed walks`,
    `  walks healed         ${s.healRequests} windows fetched to close gaps the list's moves left, in ${s.healedRuns} runs`,
    `  restarts             ${table(f.restarts)}`,
    ...f.webhookLines.map((line) => `  ${line}`),
    `  checks               ${f.runChecks} successful runs checked against upstream (skipped: ${table(f.runChecksSkipped)}), ${f.rowsChecked} mirror rows compared; history: ${f.historyRows} status changes checked, ${f.mustSee} sightings that must show`,
    `  mismatches           ${f.mismatches.length}`,
    ...f.mismatches.slice(0, 40).map((m) => `    ${m}`),
    ...(f.mismatches.length > 40 ? [`    ... and ${f.mismatches.length - 40} more`] : []),
    `  known gaps (not counted; see checker.ts, mirror-check.ts) ${f.knownGap.length}`,
    ...f.knownGap.slice(0, 20).map((m) => `    ${m}`),
    ...(f.knownGap.length > 20 ? [`    ... and ${f.knownGap.length - 20} more`] : []),
    `  warnings             ${f.warnings.length}`,
    ...f.warnings.slice(0, 20).map((m) => `    ${m}`),
    ...f.notes.map((n) => `  note: ${n}`),
  ];
  return lines.join('\n');
}
