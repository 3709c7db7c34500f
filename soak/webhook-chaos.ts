// What the --webhooks schedule does to the webhook path, all the while runs go on (so that the
// receiver's writes race the syncs' for the same accounts): every 0.3 to 2.5 s it arms one of
// the simulator's sender switches (a delivery sent twice, two deliveries swapped, a request cut
// off halfway through its body, a signature in raw r||s) or SIGKILLs the receiver (at a random
// moment, right after it logged a delivery stored, or while a transaction of its applier has
// written rows) and starts it again after a pause, during which deliveries fail and are retried.
import type { Client } from 'pg';
import { openClient } from '../src/db/pg-client.js';
import type { Prng } from '../src/simulator/hash.js';
import type { Simulator } from '../src/simulator/index.js';
import type { AttemptSwitch, BatchSwitch } from '../src/simulator/webhook-switches.js';
import type { Figures } from './figures.js';
import type { Processes } from './processes.js';
import { lineOf, type ReceiverControl } from './receiver.js';

export type WebhookDisruption =
  | 'none'
  | 'duplicate'
  | 'reorder'
  | 'cut-off'
  | 'raw-signature'
  | 'kill the receiver at a random moment'
  | 'kill the receiver right after a delivery is stored'
  | 'kill the receiver while it applies events';

/** The first draws go through each once. */
const REQUIRED: WebhookDisruption[] = [
  'duplicate',
  'reorder',
  'cut-off',
  'kill the receiver right after a delivery is stored',
  'kill the receiver while it applies events',
  'kill the receiver at a random moment',
  'raw-signature',
];

const WEIGHTS: Array<[WebhookDisruption, number]> = [
  ['none', 16],
  ['duplicate', 14],
  ['reorder', 14],
  ['cut-off', 14],
  ['raw-signature', 4],
  ['kill the receiver at a random moment', 5],
  ['kill the receiver right after a delivery is stored', 6],
  ['kill the receiver while it applies events', 6],
];

/** How long a kill waits for its moment before it gives up (counted as missed). */
const MOMENT_WAIT_MS = 15_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class WebhookChaos {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: {
      simulator: Simulator;
      receiver: ReceiverControl;
      processes: Processes;
      prng: Prng;
      figures: Figures;
      databaseUrl: string;
      log?: NodeJS.WritableStream;
    },
  ) {}

  start(): void {
    this.loop = this.run();
  }

  /** Ends the schedule (a kill under way finishes, its receiver restarted). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { prng, figures } = this.deps;
    for (let n = 0; !this.stopping; n++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 300 + prng.int(2_200));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (this.stopping) return;
      const disruption = REQUIRED[n] ?? draw(prng, WEIGHTS);
      try {
        const struck = await this.apply(disruption);
        figures.count(figures.webhookDisruptions, struck ? disruption : `${disruption} (missed: no moment came within ${MOMENT_WAIT_MS / 1000} s)`);
      } catch (error) {
        figures.notes.push(`webhook disruption ${disruption} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      // A receiver that died of itself (not killed by the soak) is noted and started again.
      if (!this.deps.receiver.alive()) {
        const proc = this.deps.receiver.current();
        if (proc && proc.killedFor === undefined) figures.notes.push(`receiver process ${proc.id} died (${proc.exit?.signal ?? proc.exit?.code}), which the soak did not cause`);
        await this.restart('receiver after it died').catch((error: unknown) => figures.notes.push(`receiver not started again: ${error instanceof Error ? error.message : String(error)}`));
      }
    }
  }

  private async apply(disruption: WebhookDisruption): Promise<boolean> {
    const { simulator, prng, figures, receiver } = this.deps;
    switch (disruption) {
      case 'none':
        return true;
      case 'duplicate':
      case 'reorder':
      case 'cut-off':
      case 'raw-signature': {
        const times = disruption === 'raw-signature' ? 1 : 1 + prng.int(3);
        simulator.webhooks.switches.arm(disruption satisfies AttemptSwitch | BatchSwitch, times);
        figures.count(figures.webhookArmed, disruption, times);
        return true;
      }
      case 'kill the receiver at a random moment':
        return this.kill(disruption, async () => true);
      case 'kill the receiver right after a delivery is stored':
        return this.kill(disruption, async (why) => {
          const proc = receiver.current();
          if (!proc?.alive()) return false;
          // Killed from inside the line listener: the answer 200 may or may not be out yet.
          const line = await lineOf(
            this.deps.processes,
            proc,
            (l) => {
              const hit = typeof l.msg === 'string' && l.msg.startsWith('webhook delivery stored') && Number(l.stored) > 0 && (l.time ?? 0) >= Date.now() - 100;
              if (hit) proc.kill('SIGKILL', why);
              return hit;
            },
            MOMENT_WAIT_MS,
          );
          return line !== undefined;
        });
      case 'kill the receiver while it applies events':
        return this.kill(disruption, () => this.applying());
    }
  }

  /** Waits for `moment` (true: it came), SIGKILLs the receiver, and starts it again after 0.1 to 2.5 s. */
  private async kill(why: WebhookDisruption, moment: (why: string) => Promise<boolean>): Promise<boolean> {
    const { receiver, figures, prng } = this.deps;
    if (!receiver.alive()) return false;
    const came = await moment(why);
    if (!came) return false;
    this.deps.log?.write(`===== webhooks: ${why}, ${new Date().toISOString()}\n`);
    await receiver.kill(why);
    figures.count(figures.kills, why.replace('kill the ', ''));
    await sleep(100 + prng.int(2_400));
    await this.restart('receiver after it was killed');
    return true;
  }

  private async restart(label: string): Promise<void> {
    await this.deps.receiver.start();
    this.deps.figures.count(this.deps.figures.restarts, label);
  }

  /** Until a transaction of the receiver that is not storing a delivery has written rows (applying events); then true. */
  private async applying(): Promise<boolean> {
    let db: Client;
    try {
      db = await openClient(this.deps.databaseUrl, 'account-sync soak chaos');
    } catch {
      return false;
    }
    db.on('error', () => undefined);
    try {
      const deadline = Date.now() + MOMENT_WAIT_MS;
      while (Date.now() < deadline && !this.stopping && this.deps.receiver.alive()) {
        const { rows } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND application_name = 'account-sync receiver' AND backend_xid IS NOT NULL
             AND query NOT LIKE '%INSERT INTO webhook_events%' AND query NOT LIKE '%pg_notify%'`,
        );
        if (rows[0]!.n > 0) return true;
        await sleep(3);
      }
      return false;
    } catch {
      return false;
    } finally {
      await db.end().catch(() => undefined);
    }
  }
}

function draw<T>(prng: Prng, weighted: Array<[T, number]>): T {
  let r = prng.next() * weighted.reduce((sum, [, w]) => sum + w, 0);
  for (const [value, weight] of weighted) if ((r -= weight) < 0) return value;
  return weighted[0]![0];
}
