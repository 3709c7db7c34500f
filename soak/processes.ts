// The real `account-sync` processes the soak starts (`node dist/cli.js ...`), each tagged with
// an id that travels in its token's scopes (`soak-p<id>`), so that the simulator can tell
// whose request a page answered. Their JSON log lines become run events.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';

export type Env = Record<string, string>;
/** `receiver` and `webhooks` (register) only with --webhooks. */
export type ProcKind = 'sync' | 'worker' | 'trigger' | 'receiver' | 'webhooks';

export interface LogLine {
  msg?: string;
  time?: number;
  runId?: string;
  [key: string]: unknown;
}

/** What a process said about a run, when (its own clock: the same machine's). */
export interface RunEvent {
  proc: number;
  runId: string;
  kind: 'started' | 'resumed' | 'succeeded' | 'failed' | 'interrupted' | 'incomplete' | 'abandoned';
  at: number;
  line: LogLine;
}

export interface Proc {
  readonly id: number;
  readonly kind: ProcKind;
  readonly args: string[];
  readonly child: ChildProcess;
  readonly startedAt: number;
  readonly lines: LogLine[];
  readonly events: RunEvent[];
  stdout(): string;
  stderrTail(): string;
  /** Settles once the process has exited and its output has been read. */
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  exitedAt: number | undefined;
  /** Why the soak killed it, if it did, and when it sent the signal. */
  killedFor: string | undefined;
  killSentAt: number | undefined;
  kill(signal: NodeJS.Signals, why: string): void;
  alive(): boolean;
}

export const SCOPE_TAG = 'soak-p';

export function runEventOf(proc: number, line: LogLine): RunEvent | undefined {
  const msg = line.msg ?? '';
  const at = typeof line.time === 'number' ? line.time : Date.now();
  const runId = typeof line.runId === 'string' ? line.runId : undefined;
  if (runId === undefined) return undefined;
  const finished = /^sync run (started|resumed|succeeded|failed|interrupted|incomplete)$/.exec(msg);
  if (finished) return { proc, runId, kind: finished[1] as RunEvent['kind'], at, line };
  if (/^sync run \d+ closed as failed: /.test(msg)) return { proc, runId, kind: 'abandoned', at, line };
  return undefined;
}

export class Processes {
  readonly all: Proc[] = [];
  private readonly listeners = new Set<(proc: Proc, event: RunEvent) => void>();
  private readonly exitListeners = new Set<(proc: Proc) => void>();
  private readonly lineListeners = new Set<(proc: Proc, line: LogLine) => void>();
  private nextId = 1;

  /** `log` receives every line of every process, prefixed with its id and kind. */
  constructor(
    private readonly baseEnv: () => Env,
    private readonly log?: Writable,
  ) {}

  /** Calls `listener` with every run event of every process, as it is logged. */
  onRunEvent(listener: (proc: Proc, event: RunEvent) => void): void {
    this.listeners.add(listener);
  }

  onExit(listener: (proc: Proc) => void): void {
    this.exitListeners.add(listener);
  }

  /**
   * Calls `listener` with every JSON log line of every process as soon as it is read, so that a
   * disruption can strike right after what a line reports (a delivery stored). Returns an
   * unsubscribe.
   */
  onLine(listener: (proc: Proc, line: LogLine) => void): () => void {
    this.lineListeners.add(listener);
    return () => this.lineListeners.delete(listener);
  }

  spawn(kind: ProcKind, args: string[], env: Env = {}): Proc {
    const id = this.nextId++;
    const fullEnv = { PATH: process.env.PATH ?? '', ...this.baseEnv(), UPVEST_SCOPES: `accounts:read ${SCOPE_TAG}${id}`, ...env };
    const child = spawn(process.execPath, ['dist/cli.js', ...args], { env: fullEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines: LogLine[] = [];
    const events: RunEvent[] = [];
    const proc: Proc = {
      id,
      kind,
      args,
      child,
      startedAt: Date.now(),
      lines,
      events,
      stdout: () => stdout,
      stderrTail: () => stderr.slice(-4000),
      closed: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
      exit: undefined,
      exitedAt: undefined,
      killedFor: undefined,
      killSentAt: undefined,
      kill(signal, why) {
        if (!proc.alive()) return;
        proc.killedFor ??= why;
        if (signal === 'SIGKILL') proc.killSentAt ??= Date.now();
        child.kill(signal);
      },
      alive: () => proc.exit === undefined,
    };
    child.on('exit', (code, signal) => {
      this.log?.write(`p${id} ${kind}: exited ${signal ?? code}${proc.killedFor ? ` (killed: ${proc.killedFor})` : ''}\n`);
      proc.exit = { code, signal };
      proc.exitedAt = Date.now();
    });
    void proc.closed.then(() => {
      for (const listener of this.exitListeners) listener(proc);
    });
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      stderr = (stderr + text).slice(-100_000);
      const parts = (partial + text).split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) {
        this.log?.write(`p${id} ${kind}: ${part}\n`);
        if (!part.startsWith('{')) continue;
        let line: LogLine;
        try {
          line = JSON.parse(part) as LogLine;
        } catch {
          continue;
        }
        lines.push(line);
        if (lines.length > 2_000) lines.splice(0, 1_000);
        for (const listener of this.lineListeners) listener(proc, line);
        const event = runEventOf(id, line);
        if (event) {
          events.push(event);
          for (const listener of this.listeners) listener(proc, event);
        }
      }
    });
    this.log?.write(`p${id} ${kind}: spawned ${args.join(' ')} ${JSON.stringify(env)}\n`);
    this.all.push(proc);
    return proc;
  }

  /** The process whose tag is among these token scopes. */
  procOfScopes(scopes: string[]): number | undefined {
    const tag = scopes.find((s) => s.startsWith(SCOPE_TAG));
    return tag === undefined ? undefined : Number(tag.slice(SCOPE_TAG.length));
  }

  /** Every event of every process, in the order of their times. */
  events(): RunEvent[] {
    return this.all.flatMap((p) => p.events).sort((a, b) => a.at - b.at || a.proc - b.proc);
  }

  /** The run a live process is working on now: its last event opened one and closed none. */
  openAttempt(proc: Proc): RunEvent | undefined {
    const last = proc.events.at(-1);
    return proc.alive() && last && (last.kind === 'started' || last.kind === 'resumed') ? last : undefined;
  }

  /** Whether the process could still act at `t` (the soak's clock). */
  aliveAt(proc: number, t: number): boolean {
    const p = this.all[proc - 1]!;
    return t < Math.min(p.killSentAt ?? Infinity, p.exitedAt ?? Infinity);
  }

  async killAll(): Promise<void> {
    for (const proc of this.all) proc.kill('SIGKILL', 'end of the soak');
    await Promise.all(this.all.map((p) => p.closed));
  }
}
