// Measuring helpers for the benchmark: a CLI run in a child process with its wall time and
// peak resident memory, and PostgreSQL's count of rows written to the mirror's tables.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Client } from 'pg';

export interface ChildRun {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Peak resident set size (VmHWM) of the child, in bytes. */
  peakRssBytes: number;
}

/** Runs `node dist/cli.js <args>`, sampling /proc/<pid>/status for the peak RSS. */
export function runCli(args: string[], env: Record<string, string>, onSpawn?: (pid: number) => void): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['dist/cli.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // VmHWM is the kernel's own high-water mark, so sampling only needs to catch the last value.
    const sample = () => {
      try {
        const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (match) peak = Math.max(peak, Number(match[1]) * 1024);
      } catch {
        // the process has just exited
      }
    };
    const timer = setInterval(sample, 20);
    child.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    child.on('exit', () => sample());
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, wallMs: performance.now() - started, peakRssBytes: peak });
    });
  });
}

/** The mirror, as analysts read it. */
export const MIRROR_TABLES = ['accounts', 'users', 'account_users', 'account_status_changes', 'rejected_records'];
/** The sync's own bookkeeping. */
export const BOOKKEEPING_TABLES = ['sync_runs', 'sync_run_pages', 'sync_page_fingerprints'];

/** Rows inserted, updated and deleted per table, as the statistics collector counts them. */
export async function rowsWrittenByTable(db: Client): Promise<Record<string, number>> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const result = await db.query<{ relname: string; n: string }>(
    `SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::text AS n FROM pg_stat_user_tables WHERE relname = ANY($1)`,
    [[...MIRROR_TABLES, ...BOOKKEEPING_TABLES]],
  );
  return Object.fromEntries([...MIRROR_TABLES, ...BOOKKEEPING_TABLES].map((t) => [t, Number(result.rows.find((r) => r.relname === t)?.n ?? 0)]));
}

/**
 * The counters once a child process's backends have exited and flushed their statistics: read
 * until two readings a moment apart agree.
 */
export async function settledRowsWritten(db: Client): Promise<Record<string, number>> {
  let previous = await rowsWrittenByTable(db);
  for (let i = 0; i < 50; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const current = await rowsWrittenByTable(db);
    if (JSON.stringify(current) === JSON.stringify(previous)) return current;
    previous = current;
  }
  return previous;
}

/** What was written between two readings, per table. */
export function rowsBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
}

export function sumOf(rows: Record<string, number>, tables: readonly string[]): number {
  return tables.reduce((sum, t) => sum + (rows[t] ?? 0), 0);
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export interface LongRun {
  /** Resident set size now (VmRSS), in bytes. */
  rss(): number;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peak(): number;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  output(): string;
}

function statusField(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Starts `node dist/cli.js <args>` as a daemon is run, for reading its memory while it lives. */
export function startCli(args: string[], env: Record<string, string>): LongRun {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    rss: () => statusField(child.pid, 'VmRSS'),
    peak: () => statusField(child.pid, 'VmHWM'),
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
    output: () => output,
  };
}
