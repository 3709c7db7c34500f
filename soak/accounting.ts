// Is every run the processes started accounted for in sync_runs exactly once? From the
// processes' own log lines (written synchronously to a pipe, so a line logged before a SIGKILL
// is never lost) against the table, after the final run:
//
// - no run id was started twice, and every run any process logged is in sync_runs;
// - every row was started by a process that logged it, or by one that was killed or crashed
//   right after creating it (each such process can leave at most one row or resumption unlogged);
// - sync_runs.resumes is at least the resumptions logged, the excess within that same allowance;
// - a run a process reported succeeded is recorded succeeded; one a `sync` reported with exit 0
//   too, under the id it printed;
// - no run is left running or interrupted: a run whose process died with it open was resumed
//   later, closed as SYNC_ABANDONED, or (its row says so) closed by that process just before;
// Two processes working on one run at once (possible for up to the lock's heartbeat after its
// connection is cut) is reported as a warning: the pages are idempotent, but it is worth seeing.
import type { RunRecord } from './mirror-check.js';
import type { Processes, RunEvent } from './processes.js';

export interface Accounting {
  runs: number;
  /** Runs closed by their own process, which was killed before it could log the end. */
  closedUnlogged: number;
  mismatches: string[];
  warnings: string[];
  unloggedExplainedByKills: number;
}

export function accountRuns(processes: Processes, runs: Map<string, RunRecord>): Accounting {
  const mismatches: string[] = [];
  const warnings: string[] = [];
  const events = processes.events();
  const byRun = new Map<string, RunEvent[]>();
  for (const event of events) byRun.set(event.runId, [...(byRun.get(event.runId) ?? []), event]);

  const starts = events.filter((e) => e.kind === 'started');
  const startedBy = new Map<string, number>();
  for (const start of starts) {
    if (startedBy.has(start.runId)) mismatches.push(`run ${start.runId} started by process ${startedBy.get(start.runId)} and again by ${start.proc}`);
    startedBy.set(start.runId, start.proc);
  }
  for (const runId of byRun.keys()) if (!runs.has(runId)) mismatches.push(`run ${runId}, logged by a process, is not in sync_runs`);

  // Processes that died without a last word: each may have created one row or counted one
  // resumption without logging it.
  // Only `sync` and the worker create runs: a killed receiver leaves none behind.
  const allowance = processes.all.filter(
    (p) => (p.kind === 'sync' || p.kind === 'worker') && p.exit !== undefined && (p.exit.signal !== null || p.exit.code !== 0),
  ).length;
  let unlogged = 0;
  let closedUnlogged = 0;
  for (const run of runs.values()) {
    if (!startedBy.has(run.id)) unlogged += 1;
    const resumed = (byRun.get(run.id) ?? []).filter((e) => e.kind === 'resumed').length;
    if (run.resumes < resumed) mismatches.push(`run ${run.id}: ${resumed} resumptions logged, ${run.resumes} recorded`);
    unlogged += Math.max(0, run.resumes - resumed);
    if (run.status === 'running' || run.status === 'interrupted') mismatches.push(`run ${run.id} is left ${run.status}`);
  }
  if (unlogged > allowance) {
    mismatches.push(`${unlogged} run rows or resumptions no process logged, more than the ${allowance} processes that died could leave`);
  }

  for (const [runId, list] of byRun) {
    const run = runs.get(runId);
    if (!run) continue;
    for (const e of list.filter((x) => x.kind === 'succeeded')) {
      if (run.status !== 'succeeded') mismatches.push(`run ${runId} reported succeeded by process ${e.proc}, recorded ${run.status}`);
    }
    // Attempts: from a start or resumption to the same process's next word on the run.
    const open = new Map<number, RunEvent>();
    for (const e of list) {
      if (e.kind !== 'started' && e.kind !== 'resumed') {
        open.delete(e.proc);
        continue;
      }
      for (const [proc, other] of open) {
        if (proc !== e.proc && processes.aliveAt(proc, e.at)) {
          warnings.push(`run ${runId}: process ${e.proc} ${e.kind} it while process ${proc} was still on it (since ${new Date(other.at).toISOString()})`);
        }
      }
      open.set(e.proc, e);
    }
    for (const e of open.values()) {
      if (processes.all[e.proc - 1]!.exit === undefined) continue;
      const later = list.some((x) => x.at >= e.at && x.proc !== e.proc && (x.kind === 'resumed' || x.kind === 'abandoned'));
      // Nobody else took it up, yet its row is closed: its own process closed it and was killed
      // before it logged so (the statistics refresh after the closing commit takes a while).
      if (!later && (run.status === 'succeeded' || run.status === 'failed' || run.status === 'incomplete')) closedUnlogged += 1;
    }
  }

  for (const proc of processes.all.filter((p) => p.kind === 'sync' && p.exit?.code === 0)) {
    let printed: { run_id?: string; status?: string } = {};
    try {
      printed = JSON.parse(proc.stdout()) as typeof printed;
    } catch {
      mismatches.push(`sync process ${proc.id} exited 0 without its JSON summary`);
      continue;
    }
    const run = printed.run_id === undefined ? undefined : runs.get(String(printed.run_id));
    if (printed.status !== 'succeeded' || run?.status !== 'succeeded') {
      mismatches.push(`sync process ${proc.id} exited 0 for run ${printed.run_id} (${printed.status}), recorded ${run?.status}`);
    }
  }
  return { runs: runs.size, closedUnlogged, mismatches, warnings, unloggedExplainedByKills: unlogged };
}

