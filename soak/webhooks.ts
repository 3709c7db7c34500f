// `--webhooks`: the soak with the receiver in it. Before the episodes: one full `sync` while no
// event exists yet (so that every account's first version is in the mirror, and its history
// starts there), then `account-sync receiver` in its own process, subscribed with `webhooks
// register`; the simulator's webhook clock runs ten times fast (a delay of "1s" batches for
// 0.1 s, retries wait 0.1, 0.2, 0.3, 0.5 … s). During the episodes, WebhookChaos disturbs the
// deliveries and kills the receiver, while syncs and the worker run as always. At the end:
// switches cleared, the receiver up, and every delivery answered and every stored event
// processed before the final runs; then webhook_events is checked (webhook-check.ts) and the
// history judged by what webhooks promise (history-check.ts).
import type { Client } from 'pg';
import { openClient } from '../src/db/pg-client.js';
import { Prng } from '../src/simulator/hash.js';
import type { DeliveryAttempt, Simulator, StatsEvent } from '../src/simulator/index.js';
import type { Figures } from './figures.js';
import { everyUpstreamVersionUnlessOvertaken, type ObservationModel } from './history-check.js';
import type { Processes } from './processes.js';
import type { Reads } from './reads.js';
import { ReceiverControl } from './receiver.js';
import type { Upstream } from './upstream.js';
import { checkEvents, loadEvents, overtakenJudge } from './webhook-check.js';
import { WebhookChaos } from './webhook-chaos.js';

/** One second of Upvest's webhook delays and retry waits, in ms (passed to startSimulator). */
export const WEBHOOK_TIME_UNIT_MS = 100;
const DRAIN_TIMEOUT_MS = 180_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Deps {
  processes: Processes;
  simulator: Simulator;
  figures: Figures;
  upstream: Upstream;
  reads: Reads;
  databaseUrl: string;
  seed: number;
  log?: NodeJS.WritableStream;
}

export class WebhookSoak {
  private readonly attempts = { total: 0, byOutcome: {} as Record<string, number>, switches: {} as Record<string, number>, events: 0 };
  private lookupsTimer: NodeJS.Timeout | undefined;
  private lastStat: StatsEvent | undefined;
  private excused = { byEvent: 0, bySync: 0 };

  private constructor(
    private readonly deps: Deps,
    private readonly receiver: ReceiverControl,
    private readonly chaos: WebhookChaos,
    private readonly webhookId: string,
    /** When the subscription was made: every version upstream made since sent an event. */
    private readonly subscribedAt: number,
  ) {}

  static async start(deps: Deps): Promise<WebhookSoak> {
    await seedSync(deps);
    const receiver = await ReceiverControl.create(deps.processes, deps.figures);
    await receiver.start();
    const subscribedAt = Date.now();
    const webhookId = await receiver.subscribe();
    // A schedule of its own: the episodes draw exactly as without --webhooks.
    const prng = new Prng(deps.seed + 0x5748);
    const chaos = new WebhookChaos({ ...deps, receiver, prng });
    const soak = new WebhookSoak(deps, receiver, chaos, webhookId, subscribedAt);
    soak.observe();
    chaos.start();
    return soak;
  }

  private observe(): void {
    const a = this.attempts;
    // A predicate that never matches sees every attempt as it is made (the simulator keeps only
    // the recent ones).
    void this.deps.simulator.webhooks.waitFor((attempt: DeliveryAttempt) => {
      a.total += 1;
      const outcome = attempt.status !== 0 ? String(attempt.status) : attempt.switches.includes('cut-off') ? 'cut off mid-request' : 'no answer';
      a.byOutcome[outcome] = (a.byOutcome[outcome] ?? 0) + 1;
      for (const s of attempt.switches) a.switches[s] = (a.switches[s] ?? 0) + 1;
      if (attempt.status === 200) a.events += attempt.events.length;
      return false;
    });
    // Lookups (GET /accounts/{id}) write what they find too: evidence that a sync may have
    // written that version (webhook-check.ts). The simulator logs its recent answers only.
    this.lookupsTimer = setInterval(() => this.collectLookups(), 500);
  }

  private collectLookups(): void {
    const events = this.deps.simulator.stats.events;
    let i = events.length - 1;
    while (i >= 0 && events[i] !== this.lastStat) i--;
    for (let j = i + 1; j < events.length; j++) {
      const e = events[j]!;
      const id = e.status === 200 && e.path.startsWith('/accounts/') ? e.path.slice('/accounts/'.length) : undefined;
      const version = id === undefined ? undefined : this.deps.upstream.versionAt(id, e.at, true);
      if (version) this.deps.reads.sawDelivered(version.id, version.updatedAt, e.at);
    }
    this.lastStat = events.at(-1);
  }

  /**
   * Upstream already stands still: ends the disruptions, and waits until every delivery has
   * been answered 200 and every stored event processed. A test delivery goes last: it lets a
   * delivery held back for a reorder go (it waits for one to overtake it).
   */
  async drain(): Promise<void> {
    const { simulator, figures } = this.deps;
    await this.chaos.stop();
    simulator.webhooks.switches.clear();
    if (!this.receiver.alive()) await this.receiver.start();
    simulator.webhooks.sendTest(this.webhookId);
    const began = Date.now();
    const db = await openClient(this.deps.databaseUrl, 'account-sync soak webhooks');
    db.on('error', () => undefined);
    try {
      for (;;) {
        const backlog = simulator.webhooks.backlog;
        const pending = backlog > 0 ? undefined : await pendingEvents(db);
        if (backlog === 0 && pending === 0) break;
        if (Date.now() - began > DRAIN_TIMEOUT_MS) {
          figures.mismatch('webhooks', [`not drained ${DRAIN_TIMEOUT_MS / 1000} s after the end: ${backlog} events unanswered, ${pending ?? '?'} stored and pending`]);
          break;
        }
        if (!this.receiver.alive()) {
          figures.notes.push('the receiver died while the deliveries were drained; started again');
          await this.receiver.start();
        }
        await sleep(100);
      }
    } finally {
      await db.end().catch(() => undefined);
    }
    figures.notes.push(`webhooks drained ${((Date.now() - began) / 1000).toFixed(1)} s after the end of the episodes`);
  }

  /** After the final runs: webhook_events checked; the history model; the receiver stopped as an operator would. */
  async finish(db: Client): Promise<ObservationModel> {
    const { upstream, reads, figures } = this.deps;
    clearInterval(this.lookupsTimer);
    this.collectLookups();
    const events = checkEvents(await loadEvents(db), upstream, this.subscribedAt);
    figures.mismatch('webhook_events', events.mismatches);
    const judge = overtakenJudge(upstream, events.byVersion, reads);
    this.excused = judge.excused;
    const stopped = await this.receiver.stop();
    if (stopped) figures.warnings.push(stopped);
    const a = this.attempts;
    const table = (t: Record<string, number>) =>
      Object.entries(t)
        .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none';
    figures.webhookLines.push(
      `deliveries           ${a.total} attempts (${table(a.byOutcome)}), ${a.events} events in deliveries answered 200; switches applied to attempts: ${table(a.switches)}`,
      `webhook disruptions  ${table(figures.webhookDisruptions)}; switch uses armed: ${table(figures.webhookArmed)}`,
      `webhook_events       ${events.stored} stored (${table(events.byOutcome)}); ${events.redeliveredEvents} delivered more than once, ${events.redeliveries} re-deliveries counted`,
    );
    return everyUpstreamVersionUnlessOvertaken(upstream, judge.overtaken);
  }

  /** After the history check (which asks the model): how many versions were excused, and by what. */
  noteModel(): void {
    const { byEvent, bySync } = this.excused;
    this.deps.figures.webhookLines.push(
      `history model        every upstream version must show, but ${byEvent + bySync} overtaken before their event was applied (by a newer event applied first ${byEvent}, by a newer version delivered to a sync first ${bySync})`,
    );
  }
}

async function pendingEvents(db: Client): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM webhook_events WHERE outcome IS NULL');
  return rows[0]!.n;
}

/** A successful full run before any event exists, so that every account's first version is in the mirror and its history. */
async function seedSync(deps: Deps): Promise<void> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const proc = deps.processes.spawn('sync', ['sync', '--json']);
    deps.figures.count(deps.figures.launched, 'sync (before subscribing)');
    const exit = await proc.closed;
    deps.figures.count(deps.figures.exits, `sync before subscribing: exit ${exit.code ?? exit.signal}`);
    let summary: { status?: string; walk_complete?: boolean } = {};
    try {
      summary = JSON.parse(proc.stdout()) as typeof summary;
    } catch {
      // no summary: try again
    }
    if (summary.status === 'succeeded' && summary.walk_complete === true) return;
  }
  throw new Error('no sync before subscribing succeeded in 5 tries');
}
