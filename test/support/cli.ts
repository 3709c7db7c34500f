// The real CLI in a child process, the built dist/cli.js that `account-sync <args>` runs (from
// this checkout, which the global setup builds, or from a production tree, as the image runs it), with exactly the environment given: its JSON log
// lines parsed as they come, its output kept.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Env } from '../../src/config/index.js';
import { BUILT_CLI } from './build.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface CliProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[];
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Settles once the process has exited and all its output has been read. */
  readonly closed: Promise<void>;
  /**
   * The first log line (past or future) that matches; rejects on timeout or exit. With `since`
   * (a count of lines, as `lines.length` at some event), only lines logged after the first
   * `since` lines match: a wait for what follows an event cannot be met by an earlier line.
   */
  waitForLog(match: (line: LogLine) => boolean, what: string, options?: number | WaitForLogOptions): Promise<LogLine>;
  /** The port of the worker's health server, from its start-up log line. */
  healthPort(): Promise<number>;
  kill(signal: NodeJS.Signals): void;
}

export interface WaitForLogOptions {
  /** Milliseconds to wait (default 30 s). */
  timeoutMs?: number;
  /** Match only lines at index `since` of `lines` or later (default 0: every line). */
  since?: number;
}

export interface CliOptions {
  /**
   * A production tree (scripts/production-tree.sh): runs its dist/cli.js from there with
   * NODE_ENV=production, as the image does, instead of this checkout's.
   */
  tree?: string;
}

/** Runs the built CLI, as `account-sync <args>` would, with exactly `env`. */
export function spawnCli(args: string[], env: Env, options: CliOptions = {}): CliProcess {
  const { tree } = options;
  const argv = [tree === undefined ? BUILT_CLI : 'dist/cli.js', ...args];
  const child = spawn(process.execPath, argv, {
    cwd: tree,
    env: { PATH: process.env.PATH, ...(tree === undefined ? {} : { NODE_ENV: 'production' }), ...env } as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const listeners = new Set<(line: LogLine) => void>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    stderr += text;
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      let line: LogLine;
      try {
        line = JSON.parse(part) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const listener of listeners) listener(line);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  // After 'exit', output may still be in flight; 'close' comes once it has all been read.
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let exitedNow = false;
  void exited.then(() => (exitedNow = true));
  const waitForLog = (match: (line: LogLine) => boolean, what: string, options: number | WaitForLogOptions = {}) =>
    new Promise<LogLine>((resolve, reject) => {
      const { timeoutMs = 30_000, since = 0 } = typeof options === 'number' ? { timeoutMs: options } : options;
      const found = lines.slice(since).find(match);
      if (found) return resolve(found);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(listener);
      };
      // A listener is called just after its line was pushed: that line is at lines.length - 1.
      const listener = (line: LogLine) => {
        if (lines.length - 1 < since || !match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr:\n${stderr.slice(-4000)}`));
      }, timeoutMs);
      listeners.add(listener);
      void exited.then(({ code, signal }) => {
        if (!listeners.has(listener)) return;
        done();
        reject(new Error(`process exited (${code ?? signal}) before ${what}; stderr:\n${stderr.slice(-4000)}`));
      });
    });
  return {
    child,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    closed,
    waitForLog,
    async healthPort() {
      const line = await waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('health server listening'), 'the health server');
      return line.port as number;
    },
    kill(signal) {
      if (!exitedNow) child.kill(signal);
    },
  };
}


/** Runs `account-sync <args>` to its end. */
export async function runCli(
  args: string[],
  env: Env,
  options: CliOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string; lines: LogLine[] }> {
  const cli = spawnCli(args, env, options);
  const { code } = await cli.exited;
  await cli.closed;
  return { code, stdout: cli.stdout(), stderr: cli.stderr(), lines: cli.lines };
}
