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
export function runCli(args: string[], env: Record<string, string>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['dist/cli.js', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
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

export const MIRROR_TABLES = ['accounts', 'users', 'account_users', 'account_status_changes', 'rejected_records'];

/** Rows inserted, updated and deleted in the mirror's tables, as the statistics collector counts them. */
export async function rowsWritten(db: Client): Promise<number> {
  await db.query('SELECT pg_stat_clear_snapshot()');
  const result = await db.query<{ n: string }>(
    `SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::text AS n
     FROM pg_stat_user_tables WHERE relname = ANY($1)`,
    [MIRROR_TABLES],
  );
  return Number(result.rows[0]!.n);
}

/**
 * The counters after a child process's backends have exited and flushed their statistics:
 * read until two readings a moment apart agree.
 */
export async function settledRowsWritten(db: Client): Promise<number> {
  let previous = await rowsWritten(db);
  for (let i = 0; i < 50; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const current = await rowsWritten(db);
    if (current === previous) return current;
    previous = current;
  }
  return previous;
}

export function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MB`;
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
