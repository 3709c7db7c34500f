// Applies stored webhook events to the mirror, through the sync's own validation and writes:
// an account event's object is checked exactly as a listed record is, then upserted with its
// users and links, a status change recorded with source 'webhook'. In one transaction with the
// claim and the marking of the events, so that an event is applied once, or not yet: never
// lost, never twice, whatever crashes in between.
//
// Older never overwrites newer: the upsert compares updated_at, so events delivered out of
// order, and a sync walking at the same time, converge on the newest version, and a status
// change is recorded once, by whichever path writes the new version first.
//
// Only this tenant's events: an event whose webhook_id is none of this tenant's subscriptions
// (our-subscriptions.ts) is marked rejected with the reason and never touches the mirror; one
// whose subscription cannot be told yet (Upvest unreachable) waits, pending, and does not hold
// up the others.
import type { PrismaClient } from '../db/prisma.js';
import { withTransactionRetry } from '../db/transactions.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import { recordChanges, writeAccounts } from '../mirror/accounts.js';
import { checkAccount, type AccountRecord, type ExtraLimits } from '../upvest/schema.js';
import { claimPendingEvents, keepAsideEventObjects, markEvents, pendingSubscriptions, type EventOutcome, type PendingEvent } from './event-store.js';
import { NOT_OURS_REASON, type SubscriptionCheck } from './our-subscriptions.js';

/** Upvest's account event types; any other type is kept and marked ignored. */
export const ACCOUNT_EVENT_TYPES: ReadonlySet<string> = new Set([
  'ACCOUNT.CREATED',
  'ACCOUNT.ACTIVATED',
  'ACCOUNT.UPDATED',
  'ACCOUNT.LOCKED',
  'ACCOUNT.CLOSING_INITIATED',
  'ACCOUNT.CLOSED',
]);

/** pg_try_advisory_xact_lock key ("ASWH"): one applier at a time, so each account's events apply in order. */
export const APPLY_LOCK_KEY = 0x41535748n;

export interface ApplyResult {
  /** Another applier held the lock: nothing was done. */
  busy: boolean;
  /** Events processed (given an outcome). */
  claimed: number;
  /** Of the rejected ones, those not from this tenant's subscriptions. */
  notOurs: number;
  /** Subscriptions whose events were left pending: they could not be told ours or not yet. */
  waiting: number;
  byOutcome: Record<EventOutcome, number>;
  /** From each applied event's created_at to its commit's start, ms (for the lag metric). */
  lagsMs: number[];
}

export interface ApplyDeps {
  /** Which subscriptions are this tenant's. */
  subscriptions: SubscriptionCheck;
  now: () => Date;
  /** Scrubs secrets from what is kept of a rejected object. */
  redact: (text: string) => string;
  /** Bounds on the fields the schema does not know (default DEFAULT_EXTRA_LIMITS). */
  extraLimits?: ExtraLimits;
}

/** Applies up to `batchSize` pending events, oldest created_at first. */
export async function applyPendingEvents(prisma: PrismaClient, deps: ApplyDeps, batchSize: number): Promise<ApplyResult> {
  // Outside the transaction: asking Upvest for the subscriptions must not hold the apply lock.
  const head = await pendingSubscriptions(prisma, batchSize);
  await deps.subscriptions.resolve(head);
  const waiting = head.filter((h) => deps.subscriptions.classify(h.webhookId, h.receivedAt) === 'unknown').map((h) => h.webhookId!);
  return withTransactionRetry(() =>
    prisma.$transaction(
      async (tx) => {
        const result: ApplyResult = {
          busy: false,
          claimed: 0,
          notOurs: 0,
          waiting: 0,
          byOutcome: { applied: 0, duplicate: 0, ignored: 0, rejected: 0 },
          lagsMs: [],
        };
        const [lock] = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${APPLY_LOCK_KEY}) AS locked`;
        if (!lock?.locked) return { ...result, busy: true };
        const claimed = await claimPendingEvents(tx, batchSize, waiting);
        // Events that arrived since the look above, of a subscription not known yet, wait too.
        const events = claimed.filter((e) => deps.subscriptions.classify(e.webhookId, e.receivedAt) !== 'unknown');
        result.waiting = new Set([...waiting, ...claimed.filter((e) => !events.includes(e)).map((e) => e.webhookId)]).size;
        result.claimed = events.length;
        if (events.length === 0) return result;

        const now = deps.now();
        const { accountEvents, marks, rejects, notOurs } = sortOut(events, deps);
        result.notOurs = notOurs;
        await keepAsideEventObjects(tx, rejects);
        for (const round of rounds(accountEvents)) {
          const eventIds = new Map(round.map((e) => [e.account.id, e.event.eventId]));
          const at = { observedAt: now, runId: null, eventIds };
          const accounts = round.map((e) => e.account).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const written = await writeAccounts(tx, at, accounts);
          const { changedIds } = written;
          await recordChanges(tx, at, written);
          for (const { event, account } of round) {
            const applied = changedIds.has(account.id);
            marks.push({
              seq: event.seq,
              outcome: applied ? 'applied' : 'duplicate',
              reason: applied ? null : 'the mirror already held this version of the account or a newer one',
            });
            if (applied) result.lagsMs.push(Math.max(0, now.getTime() - Date.parse(event.createdAt)));
          }
        }
        await markEvents(tx, marks, now);
        for (const mark of marks) result.byOutcome[mark.outcome] += 1;
        return result;
      },
      { maxWait: 30_000, timeout: 120_000 },
    ),
  );
}

interface AccountEvent {
  event: PendingEvent;
  account: AccountRecord;
}

/** Account events with a valid object; marks for the others, and what to keep aside of them. */
function sortOut(events: PendingEvent[], deps: Pick<ApplyDeps, 'subscriptions' | 'redact' | 'extraLimits'>) {
  const accountEvents: AccountEvent[] = [];
  const marks: Array<{ seq: bigint; outcome: EventOutcome; reason: string | null }> = [];
  const rejects: Array<{ eventId: string; accountId: string | null; rawJson: string; rawTruncated: boolean; reason: string }> = [];
  let notOurs = 0;
  for (const event of events) {
    if (deps.subscriptions.classify(event.webhookId, event.receivedAt) === 'not_ours') {
      marks.push({ seq: event.seq, outcome: 'rejected', reason: notOursReason(event.webhookId) });
      notOurs++;
      continue;
    }
    if (!ACCOUNT_EVENT_TYPES.has(event.type)) {
      marks.push({ seq: event.seq, outcome: 'ignored', reason: `not an account event type: ${event.type}` });
      continue;
    }
    const object = event.raw !== null && typeof event.raw === 'object' ? (event.raw as { object?: unknown }).object : undefined;
    const checked = checkAccount(object, deps.extraLimits);
    if (checked.ok) {
      accountEvents.push({ event, account: checked.account });
      continue;
    }
    const kept = keptAsideJson(object);
    const reason = deps.redact(`object: ${checked.rejected.reason}`);
    rejects.push({ eventId: event.eventId, accountId: checked.rejected.accountId, rawJson: deps.redact(kept.json), rawTruncated: kept.truncated, reason });
    marks.push({ seq: event.seq, outcome: 'rejected', reason });
  }
  return { accountEvents, marks, rejects, notOurs };
}

function notOursReason(webhookId: string | null): string {
  if (webhookId === null) return `${NOT_OURS_REASON}: the event names no webhook_id`;
  const shown = webhookId.length > 64 ? `${webhookId.slice(0, 64)}…` : webhookId;
  return `${NOT_OURS_REASON}: webhook_id ${JSON.stringify(shown)} is not listed by GET /webhooks`;
}

/**
 * Groups the events so that each group holds at most one event per account, an account's
 * events in created_at order across groups: one statement writes each id once, and a later
 * version of an account is written after the earlier one, so that every status it went
 * through is recorded.
 */
function rounds(events: AccountEvent[]): AccountEvent[][] {
  const out: AccountEvent[][] = [];
  const depth = new Map<string, number>();
  for (const e of events) {
    const level = depth.get(e.account.id) ?? 0;
    depth.set(e.account.id, level + 1);
    (out[level] ??= []).push(e);
  }
  return out;
}
