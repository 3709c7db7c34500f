// What the webhook benchmark watches: a long-running CLI process whose output lines it reads as
// they come (the receiver's log, `changes --follow --json`), and the mirror's own notification
// of committed status changes, each stamped with the wall-clock time it arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Client } from 'pg';
import { FEED_CHANNEL } from '../src/db/feed.js';

/** Wall-clock ms with sub-ms precision, comparable with the simulator's timestamps (Date.now). */
export const wallMs = () => performance.timeOrigin + performance.now();

/** Epoch ms of an RFC 3339 UTC timestamp, microseconds kept. */
export function epochMs(rfc3339: string): number {
  const fraction = /\.(\d+)Z$/i.exec(rfc3339)?.[1] ?? '';
  return Date.parse(`${rfc3339.slice(0, 19)}Z`) + Number(`0.${fraction || '0'}`) * 1000;
}

export interface LineProcess {
  child: ChildProcess;
  /** The first line (past or future) on stdout or stderr that matches. */
  line(match: (line: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

/** `node dist/cli.js <args>`, its output read line by line; `onStdout` gets each stdout line with its arrival time. */
export function spawnLines(args: string[], env: Record<string, string>, onStdout?: (line: string, atMs: number) => void): LineProcess {
  const child = spawn(process.execPath, ['dist/cli.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const seen: string[] = [];
  const waiters = new Set<(line: string) => void>();
  const read = (stream: NodeJS.ReadableStream, each: (line: string, atMs: number) => void) => {
    let partial = '';
    stream.on('data', (chunk: Buffer) => {
      const at = wallMs();
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) each(part, at);
    });
  };
  const note = (line: string) => {
    if (seen.length < 1000) seen.push(line);
    for (const waiter of waiters) waiter(line);
  };
  read(child.stdout!, onStdout ?? note);
  read(child.stderr!, note);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    line(match, what, timeoutMs = 30_000) {
      const found = seen.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no ${what} within ${timeoutMs} ms:\n${seen.slice(-20).join('\n')}`));
        }, timeoutMs);
        const waiter = (line: string) => {
          if (!match(line)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(line);
        };
        waiters.add(waiter);
      });
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/**
 * The moment each status change became visible in the mirror: the writer's NOTIFY arrives when
 * its transaction commits, and the changes it announces are read by id. `onChange` gets each
 * change's changed_at (epoch ms) and the arrival time.
 */
export async function watchCommits(db: Client, since: bigint, onChange: (changedAtMs: number, committedAtMs: number) => void): Promise<void> {
  let cursor = since;
  let reading = Promise.resolve();
  db.on('notification', () => {
    const at = wallMs();
    reading = reading.then(async () => {
      const { rows } = await db.query<{ id: string; changed_ms: number }>(
        `SELECT id::text, extract(epoch FROM changed_at)::float8 * 1000 AS changed_ms
         FROM account_status_changes WHERE id > $1 ORDER BY id`,
        [cursor.toString()],
      );
      for (const row of rows) {
        onChange(row.changed_ms, at);
        cursor = BigInt(row.id);
      }
    });
  });
  await db.query(`LISTEN ${FEED_CHANNEL}`);
}

/** p-th percentile (0..1) of the samples, nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Resolves once `done()` is true, checked whenever `tick` is called; rejects after `timeoutMs`. */
export function whenDone(done: () => boolean, what: string, timeoutMs: number) {
  let resolve!: () => void;
  let timer: NodeJS.Timeout;
  const finished = new Promise<void>((res, reject) => {
    resolve = res;
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${timeoutMs} ms`)), timeoutMs);
  });
  const tick = () => {
    if (!done()) return;
    clearTimeout(timer);
    resolve();
  };
  return { finished, tick };
}
