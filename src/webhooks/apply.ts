// Applies stored webhook events to the mirror, through the sync's own validation and writes:
// an account event's object is checked exactly as a listed record is, then upserted with its
// users and links, a status change recorded with source 'webhook'. In one transaction with the
// claim and the marking of the events, so that an event is applied once, or not yet: never
// lost, never twice, whatever crashes in between.
//
// Older never overwrites newer: the upsert compares updated_at, so events delivered out of
// order, and a sync walking at the same time, converge on the newest version, and a status
// change is recorded once, by whichever path writes the new version first.
import type { PrismaClient } from '../db/prisma.js';
import { withTransactionRetry } from '../db/transactions.js';
import { keptAsideJson } from '../runs/kept-aside.js';
import { recordStatusChanges } from '../sync/mirror-writes.js';
import { writeAccounts } from '../sync/store.js';
import { checkAccount, type AccountRecord } from '../upvest/schema.js';
import { claimPendingEvents, keepAsideEventObjects, markEvents, type EventOutcome, type PendingEvent } from './event-store.js';

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
  claimed: number;
  byOutcome: Record<EventOutcome, number>;
  /** From each applied event's created_at to its commit's start, ms (for the lag metric). */
  lagsMs: number[];
}

export interface ApplyDeps {
  now: () => Date;
  /** Scrubs secrets from what is kept of a rejected object. */
  redact: (text: string) => string;
}

/** Applies up to `batchSize` pending events, oldest created_at first. */
export async function applyPendingEvents(prisma: PrismaClient, deps: ApplyDeps, batchSize: number): Promise<ApplyResult> {
  return withTransactionRetry(() =>
    prisma.$transaction(
      async (tx) => {
        const result: ApplyResult = { busy: false, claimed: 0, byOutcome: { applied: 0, duplicate: 0, ignored: 0, rejected: 0 }, lagsMs: [] };
        const [lock] = await tx.$queryRaw<Array<{ locked: boolean }>>`SELECT pg_try_advisory_xact_lock(${APPLY_LOCK_KEY}) AS locked`;
        if (!lock?.locked) return { ...result, busy: true };
        const events = await claimPendingEvents(tx, batchSize);
        result.claimed = events.length;
        if (events.length === 0) return result;

        const now = deps.now();
        const { accountEvents, marks, rejects } = sortOut(events, deps.redact);
        await keepAsideEventObjects(tx, rejects);
        for (const round of rounds(accountEvents)) {
          const eventIds = new Map(round.map((e) => [e.account.id, e.event.eventId]));
          const at = { observedAt: now, runId: null, eventIds };
          const accounts = round.map((e) => e.account).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const { written, changedIds } = await writeAccounts(tx, at, accounts);
          await recordStatusChanges(tx, at, written);
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
function sortOut(events: PendingEvent[], redact: (text: string) => string) {
  const accountEvents: AccountEvent[] = [];
  const marks: Array<{ seq: bigint; outcome: EventOutcome; reason: string | null }> = [];
  const rejects: Array<{ eventId: string; accountId: string | null; rawJson: string; rawTruncated: boolean; reason: string }> = [];
  for (const event of events) {
    if (!ACCOUNT_EVENT_TYPES.has(event.type)) {
      marks.push({ seq: event.seq, outcome: 'ignored', reason: `not an account event type: ${event.type}` });
      continue;
    }
    const object = event.raw !== null && typeof event.raw === 'object' ? (event.raw as { object?: unknown }).object : undefined;
    const checked = checkAccount(object);
    if (checked.ok) {
      accountEvents.push({ event, account: checked.account });
      continue;
    }
    const kept = keptAsideJson(object);
    const reason = redact(`object: ${checked.rejected.reason}`);
    rejects.push({ eventId: event.eventId, accountId: checked.rejected.accountId, rawJson: redact(kept.json), rawTruncated: kept.truncated, reason });
    marks.push({ seq: event.seq, outcome: 'rejected', reason });
  }
  return { accountEvents, marks, rejects };
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
