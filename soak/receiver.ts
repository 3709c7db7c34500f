// The --webhooks soak's receiver: the real CLI (`account-sync receiver`) in a process of its own,
// on a port that stays the same across kills and restarts (as behind a load balancer, the
// subscription's URL never changes), and its subscription made as `webhooks register` makes it.
import type { Figures } from './figures.js';
import { freePort } from './ports.js';
import type { Env, LogLine, Proc, Processes } from './processes.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first line of `proc` (logged before or after now) that `match`es; undefined if it exits first or time runs out. */
export function lineOf(processes: Processes, proc: Proc, match: (line: LogLine) => boolean, timeoutMs: number): Promise<LogLine | undefined> {
  const past = proc.lines.find(match);
  if (past) return Promise.resolve(past);
  return new Promise((resolve) => {
    const finish = (line: LogLine | undefined) => {
      off();
      clearTimeout(timer);
      resolve(line);
    };
    const off = processes.onLine((p, line) => {
      if (p === proc && match(line)) finish(line);
    });
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    void proc.closed.then(() => finish(undefined));
  });
}

export class ReceiverControl {
  private proc: Proc | undefined;
  readonly url: string;

  private constructor(
    private readonly processes: Processes,
    private readonly figures: Figures,
    private readonly env: Env,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}/webhooks/upvest`;
  }

  static async create(processes: Processes, figures: Figures): Promise<ReceiverControl> {
    const port = await freePort();
    const env: Env = {
      WEBHOOK_RECEIVER_HOST: '127.0.0.1',
      WEBHOOK_RECEIVER_PORT: String(port),
      WEBHOOK_RECEIVER_HEALTH_PORT: '0',
      // What a killed receiver stored and never applied waits for the next one's sweep (besides
      // the kick every start gives): soon, so that the backlog stays short.
      WEBHOOK_APPLY_SWEEP_MS: '1000',
    };
    return new ReceiverControl(processes, figures, env, port);
  }

  /** The receiver's process, alive or not; undefined before the first start. */
  current(): Proc | undefined {
    return this.proc;
  }

  alive(): boolean {
    return this.proc?.alive() ?? false;
  }

  /**
   * Starts a receiver and waits until it says it started (its keys fetched, or the failure to
   * fetch them logged). Tried again if it dies first (its port not yet free, say).
   */
  async start(): Promise<Proc> {
    for (let attempt = 1; ; attempt++) {
      const proc = this.processes.spawn('receiver', ['receiver'], this.env);
      this.proc = proc;
      this.figures.count(this.figures.launched, 'receiver');
      const started = await lineOf(this.processes, proc, (l) => l.msg === 'webhook receiver started', 60_000);
      if (started) return proc;
      proc.kill('SIGKILL', 'did not start');
      const exit = await proc.closed;
      this.figures.count(this.figures.exits, `receiver ${exit.signal ?? `exit ${exit.code}`} before it started`);
      if (attempt >= 5) throw new Error(`the receiver did not start in 5 tries: ${proc.stderrTail().slice(-1000)}`);
      await sleep(500);
    }
  }

  /** SIGKILL (unless already sent, by a listener that could not wait); resolves once it is gone. */
  async kill(why: string): Promise<void> {
    const proc = this.proc;
    if (!proc || (!proc.alive() && proc.killSentAt === undefined)) return;
    proc.kill('SIGKILL', why);
    await proc.closed;
    this.figures.count(this.figures.exits, 'receiver killed (SIGKILL)');
  }

  /** SIGTERM, as an operator stops it: it must exit 0 within 20 s. Returns what went wrong, if anything. */
  async stop(): Promise<string | undefined> {
    const proc = this.proc;
    if (!proc?.alive()) return undefined;
    proc.kill('SIGTERM', 'end of the soak');
    const exit = await Promise.race([proc.closed, sleep(20_000).then(() => undefined)]);
    if (!exit) {
      proc.kill('SIGKILL', 'did not stop on SIGTERM');
      await proc.closed;
      return `receiver process ${proc.id} did not stop within 20 s of SIGTERM`;
    }
    this.figures.count(this.figures.exits, `receiver ${exit.signal ?? `exit ${exit.code}`} on SIGTERM`);
    return exit.code === 0 ? undefined : `receiver process ${proc.id} ended with ${exit.signal ?? `exit ${exit.code}`} on SIGTERM`;
  }

  /**
   * `account-sync webhooks register` against the simulator (with a delay of 1 s, which the
   * simulator's time unit shortens); the subscription's id. Before faults are switched on:
   * creating a subscription is tried once (it is not idempotent).
   */
  async subscribe(): Promise<string> {
    const proc = this.processes.spawn('webhooks', ['webhooks', 'register', '--url', this.url, '--types', 'ACCOUNT', '--delay', '1s', '--json']);
    this.figures.count(this.figures.launched, 'webhooks register');
    const exit = await proc.closed;
    if (exit.code !== 0) throw new Error(`webhooks register exited ${exit.signal ?? exit.code}: ${proc.stderrTail().slice(-1000)}`);
    return (JSON.parse(proc.stdout()) as { id: string }).id;
  }
}
