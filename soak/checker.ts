// After every successful run: take the run lock (so that nothing writes the mirror meanwhile),
// make sure nothing wrote after the run (another run started or resumed since, or a process
// still on a run whose lock it lost), and compare the mirror with upstream (mirror-check.ts).
// Each process's reads are settled at each of its run's ends, whether checked or not, so that
// the history check knows what every successful run saw. With --webhooks the receiver keeps
// writing while the lock is held (it takes no run lock, by design): the mirror is read in one
// statement, a snapshot, and judged with what webhooks legitimately change (mirror-check.ts).
import type { Client } from 'pg';
import { openClient } from '../src/db/pg-client.js';
import { RUN_LOCK_KEY } from '../src/runs/lock.js';
import type { Figures } from './figures.js';
import {
  checkMirror,
  claimsCurrency,
  INCREMENTAL_AFTER_INCOMPLETE_BASE_IS_CURRENT,
  loadMirror,
  loadRuns,
  walkedEverything,
} from './mirror-check.js';
import type { Processes, Proc, RunEvent } from './processes.js';
import type { Reads } from './reads.js';
import type { Upstream } from './upstream.js';

/**
 * KNOWN GAP, to be switched on when the lead's catch-up pass lands: a resumed run that succeeds
 * should end current as of its last resumption, not only as of its first start (its early
 * pages were read before the kill, and upstream went on changing). Until then, what only the
 * strict window finds is reported as "known gap", not counted as a mismatch; the window from
 * the run's first start is checked and counted for every run. Set true to count both.
 */
export const STRICT_CURRENCY_FOR_RESUMED_RUNS = true;

export class Checker {
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly deps: {
      databaseUrl: string;
      upstream: Upstream;
      reads: Reads;
      processes: Processes;
      figures: Figures;
      /** `--sabotage`: after this many checks, write wrong data into the mirror, to show the checks catch it. */
      sabotageAfter?: number;
      /** `--webhooks`: a receiver applies events to the mirror at any time. */
      webhooks?: boolean;
    },
  ) {
    deps.processes.onRunEvent((proc, event) => this.onEvent(proc, event));
  }

  /** Resolves once every check asked for so far is done. */
  async idle(): Promise<void> {
    while (this.pending > 0) await this.queue;
  }

  /** A process exited: whatever it read and never concluded is of no run's. */
  exited(proc: Proc): void {
    this.enqueue(async () => {
      await this.deps.reads.concluded(proc.id, Infinity);
    });
  }

  private onEvent(proc: Proc, event: RunEvent): void {
    if (event.kind === 'started' || event.kind === 'resumed' || event.kind === 'abandoned') return;
    const attempt = [...proc.events].reverse().find((e) => e.runId === event.runId && (e.kind === 'started' || e.kind === 'resumed') && e.at <= event.at);
    this.enqueue(async () => {
      const success = event.kind === 'succeeded' && attempt ? { runId: event.runId, start: attempt.at } : undefined;
      const read = await this.deps.reads.concluded(proc.id, event.at, success);
      if (success && attempt) await this.check(proc, event, attempt, read);
    });
  }

  private enqueue(work: () => Promise<void>): void {
    this.pending += 1;
    this.queue = this.queue.then(work).catch((error: unknown) => {
      this.deps.figures.notes.push(`check failed: ${error instanceof Error ? error.message : String(error)}`);
    }).finally(() => {
      this.pending -= 1;
    });
  }

  private async check(proc: Proc, success: RunEvent, attempt: RunEvent, read: Awaited<ReturnType<Reads['concluded']>>): Promise<void> {
    const { figures, upstream, processes } = this.deps;
    let db: Client;
    try {
      db = await openClient(this.deps.databaseUrl, 'account-sync soak check');
    } catch {
      figures.count(figures.runChecksSkipped, 'database down');
      return;
    }
    db.on('error', () => undefined);
    try {
      await db.query(`SET lock_timeout = 120000`);
      await db.query('SELECT pg_advisory_lock($1)', [RUN_LOCK_KEY]);
      const runs = await loadRuns(db);
      const run = runs.get(success.runId);
      if (!run || run.status !== 'succeeded') {
        figures.mismatch(`run ${success.runId}`, [`reported succeeded by process ${proc.id}, recorded ${run?.status ?? 'nowhere'}`]);
        return;
      }
      const later = [...runs.values()].some((r) => r.id !== run.id && (r.startedAt > success.at || (r.resumedAt ?? 0) > success.at));
      const busy = processes.all.some((p) => p !== proc && processes.openAttempt(p) !== undefined && processes.aliveAt(p.id, Date.now()));
      if (later || busy) {
        figures.count(figures.runChecksSkipped, later ? 'another run wrote first' : 'another process still on a run');
        return;
      }
      const mirror = await loadMirror(db);
      const webhooks = this.deps.webhooks ? { loadedAt: Date.now() } : undefined;
      const context = `run ${run.id} (${run.mode}${attempt.kind === 'resumed' ? `, resumed ${run.resumes}x` : ''}, process ${proc.id})`;
      const claimed = claimsCurrency(run);
      const counted = claimed && (INCREMENTAL_AFTER_INCOMPLETE_BASE_IS_CURRENT || walkedEverything(runs, run));
      const found = checkMirror(mirror, runs, upstream, run, { from: run.startedAt, to: success.at }, read, counted, webhooks);
      figures.runChecks += 1;
      figures.rowsChecked += found.rows;
      if (figures.runChecks === this.deps.sabotageAfter) await sabotage(db);
      figures.mismatch(context, found.mismatches);
      const gap = (what: string, strict: string[]) => {
        for (const m of strict.filter((x) => !found.mismatches.includes(x))) figures.knownGap.push(`${context}, ${what}: ${m}`);
      };
      if (claimed && !counted) {
        gap(
          'incremental on a base that did not walk everything',
          checkMirror(mirror, runs, upstream, run, { from: run.startedAt, to: success.at }, read, true, webhooks).mismatches,
        );
      }
      if (attempt.kind === 'resumed') {
        const strict = checkMirror(mirror, runs, upstream, run, { from: attempt.at, to: success.at }, read, counted, webhooks);
        if (STRICT_CURRENCY_FOR_RESUMED_RUNS) figures.mismatch(context, strict.mismatches.filter((m) => !found.mismatches.includes(m)));
        else gap('resumed', strict.mismatches);
      }
    } catch (error) {
      figures.count(figures.runChecksSkipped, `error: ${error instanceof Error ? error.message.slice(0, 60) : String(error)}`);
    } finally {
      await db.query('SELECT pg_advisory_unlock($1)', [RUN_LOCK_KEY]).catch(() => undefined);
      await db.end().catch(() => undefined);
    }
  }
}

/** A wrong name, a lost owner and an invented status change, behind the sync's back. */
async function sabotage(db: Client): Promise<void> {
  await db.query(`
    WITH victim AS (SELECT id FROM accounts WHERE deleted_at IS NULL ORDER BY id LIMIT 3)
    UPDATE accounts a SET name = a.name || ' (sabotaged)' FROM victim WHERE a.id = victim.id`);
  await db.query(`
    DELETE FROM account_users WHERE account_id = (SELECT id FROM accounts WHERE deleted_at IS NULL ORDER BY id OFFSET 3 LIMIT 1)`);
  await db.query(`
    INSERT INTO account_status_changes (account_id, from_status, to_status, changed_at, observed_at, sync_run_id)
    SELECT id, status, 'SABOTAGED', updated_at, now(), last_sync_run_id FROM accounts WHERE deleted_at IS NULL ORDER BY id OFFSET 4 LIMIT 1`);
}
