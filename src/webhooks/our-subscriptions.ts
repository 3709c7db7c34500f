// Which webhook subscriptions are this tenant's, as GET /webhooks lists them: an event is applied
// only when its webhook_id is one of them. Upvest may sign every tenant's deliveries with the same
// keys, so a valid signature alone does not say that a delivery was meant for us: anyone else who
// receives Upvest's webhooks could forward theirs.
//
// The list is cached. An id not in it is read again, at most once per `minRefetchIntervalMs`
// (concurrent callers share the read): a subscription created seconds ago (`webhooks register`
// while the receiver runs) is found on its first event. An event is judged not ours only by a
// list that was read after the event arrived (by CLOCK_MARGIN_MS): Upvest sends no event for a
// subscription before it exists, so a list read later would hold it. Until such a list could be read (Upvest
// unreachable, or read too recently), the event is neither: it waits, stored and pending. Ids
// once listed stay ours (a deleted subscription's last events are still ours); a failed read
// changes nothing.
import { errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Webhook } from '../upvest/webhooks-api.js';

export type Ownership = 'ours' | 'not_ours' | 'unknown';

/** The start of the reason such an event is stored with (what status counts them by). */
export const NOT_OURS_REASON = 'not one of our subscriptions';

/** Receivers on other hosts stamp received_at with their own clocks. */
export const CLOCK_MARGIN_MS = 5_000;

export interface SubscriptionCheck {
  /** From what is known now, without asking Upvest. */
  classify(webhookId: string | null, receivedAt: Date): Ownership;
  /** Reads the list again if one of these is unknown and the interval allows; never throws. */
  resolve(events: ReadonlyArray<{ webhookId: string | null; receivedAt: Date }>): Promise<void>;
}

export interface OurSubscriptionsOptions {
  /** GET /webhooks, every page. */
  listAll: () => Promise<Webhook[]>;
  /** An unknown id reads the list again only when the last read started at least this long ago. */
  minRefetchIntervalMs: number;
  logger: Logger;
  now?: () => number;
}

export class OurSubscriptions implements SubscriptionCheck {
  private readonly ids = new Set<string>();
  /** When the last successful read started; undefined before one succeeded. */
  private listedAt: number | undefined;
  private lastReadAt: number | undefined;
  private inFlight: Promise<void> | undefined;
  private readCount = 0;
  private readonly now: () => number;

  constructor(private readonly options: OurSubscriptionsOptions) {
    this.now = options.now ?? Date.now;
  }

  /** How often the list was read (successfully or not). */
  get reads(): number {
    return this.readCount;
  }

  classify(webhookId: string | null, receivedAt: Date): Ownership {
    if (webhookId === null) return 'not_ours';
    if (this.ids.has(webhookId.toLowerCase())) return 'ours';
    // A list read after the event arrived; the margin covers clocks of receivers that differ.
    return this.listedAt !== undefined && this.listedAt > receivedAt.getTime() + CLOCK_MARGIN_MS ? 'not_ours' : 'unknown';
  }

  async resolve(events: ReadonlyArray<{ webhookId: string | null; receivedAt: Date }>): Promise<void> {
    if (!events.some((e) => this.classify(e.webhookId, e.receivedAt) === 'unknown')) return;
    if (!this.inFlight && this.lastReadAt !== undefined && this.now() - this.lastReadAt < this.options.minRefetchIntervalMs) return;
    await this.refresh().catch((error: unknown) => {
      this.options.logger.warn(`cannot read this tenant's webhook subscriptions (GET /webhooks), events of unknown ones wait: ${errorMessageOf(error)}`);
    });
  }

  /** Reads the list now (or joins the read under way). */
  refresh(): Promise<void> {
    this.inFlight ??= this.load().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async load(): Promise<void> {
    const startedAt = this.now();
    this.lastReadAt = startedAt;
    this.readCount++;
    const listed = await this.options.listAll();
    const added = listed.map((w) => w.id.toLowerCase()).filter((id) => !this.ids.has(id));
    for (const id of added) this.ids.add(id);
    this.listedAt = startedAt;
    if (added.length > 0) this.options.logger.info({ added, known: this.ids.size }, `this tenant's webhook subscriptions: ${[...this.ids].join(', ')}`);
  }
}
