// Webhook events applied to the mirror, over real HTTP from the simulator through the receiver:
// a change lands within the delivery's round trip, its status change recorded once whichever
// of the webhook and the sync sees it first, with where it came from; re-deliveries and
// out-of-order deliveries end with the newest state; other event types are kept and ignored,
// a bad object is kept aside.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCommandConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { runSync, type RunSummary } from '../../src/sync/run.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import type { ApplyResult } from '../../src/webhooks/apply.js';
import { startApplier, type Applier } from '../../src/webhooks/applier.js';
import { OurSubscriptions } from '../../src/webhooks/our-subscriptions.js';
import { expectedMirror, mirroredAccounts } from '../support/harness.js';
import { startWebhookSetup, type WebhookSetup } from './support.js';

let s: WebhookSetup;
let applier: Applier;
const applied: ApplyResult[] = [];
/** Resolvers waiting for an event to be processed, by event id. */
const waiting = new Map<string, () => void>();

beforeAll(async () => {
  s = await startWebhookSetup('webhook_apply', {
    simulator: { accounts: 300 },
    receiver: { onOutcome: (outcome) => (outcome.batch?.stored ? applier.kick() : undefined) },
  });
  applier = await startApplier({
    subscriptions: new OurSubscriptions({ listAll: () => s.admin.listAll(), minRefetchIntervalMs: 5_000, logger: silentLogger() }),
    prisma: s.prisma,
    databaseUrl: s.db.url,
    logger: silentLogger(),
    batchSize: 50,
    sweepMs: 60_000,
    now: () => new Date(),
    redact: (text) => text,
    onApplied: (result) => {
      applied.push(result);
      void settle();
    },
  });
  await sync();
});
afterAll(async () => {
  await applier?.close();
  await s?.close();
});

/** Resolves waiters whose events have an outcome now. */
async function settle(): Promise<void> {
  const rows = await s.prisma.$queryRaw<Array<{ event_id: string }>>`
    SELECT event_id::text FROM webhook_events WHERE outcome IS NOT NULL AND event_id = ANY(${[...waiting.keys()]}::uuid[])`;
  for (const { event_id } of rows) {
    waiting.get(event_id)?.();
    waiting.delete(event_id);
  }
}

/** Resolves once the event has been processed (applied, duplicate, ignored or rejected). */
function processed(eventId: string): Promise<void> {
  return new Promise((resolve) => {
    waiting.set(eventId, resolve);
    void settle();
  });
}

/** The id of the next event the simulator emits about this account. */
async function nextEventAbout(accountId: string): Promise<string> {
  const attempt = await s.sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === accountId));
  return attempt.events.filter((e) => e.objectId === accountId).at(-1)!.id;
}

async function sync(): Promise<RunSummary> {
  const config = loadCommandConfig('sync', { ...s.env, DATABASE_URL: s.db.url, SYNC_PAGE_SIZE: '100' });
  const client = createUpvestClientFromConfig(config.upvest, { logger: silentLogger() });
  return runSync(
    { prisma: s.prisma, client, logger: silentLogger() },
    { pageSize: config.sync.pageSize, concurrency: 2, maxPages: config.sync.maxPages },
  );
}

async function changesOf(accountId: string) {
  return s.prisma.$queryRaw<Array<{ from_status: string | null; to_status: string; source: string; event: string | null; run: string | null }>>`
    SELECT from_status, to_status, source, webhook_event_id::text AS event, sync_run_id::text AS run
    FROM account_status_changes WHERE account_id = ${accountId}::uuid ORDER BY id`;
}

async function outcomeOf(eventId: string) {
  const [row] = await s.prisma.$queryRaw<Array<{ outcome: string; reason: string | null }>>`
    SELECT outcome, reason FROM webhook_events WHERE event_id = ${eventId}::uuid`;
  return row;
}

const activeAccount = (skip = 0) => s.sim.dataset.list().filter((a) => a.status === 'ACTIVE')[skip]!;

describe('applying webhook events', () => {
  it('brings a change into the mirror without a sync, its status change recorded once with its source', async () => {
    const account = activeAccount(0);
    s.sim.dataset.setStatus(account.id, 'LOCKED');
    const eventId = await nextEventAbout(account.id);
    await processed(eventId);
    expect(await outcomeOf(eventId)).toEqual({ outcome: 'applied', reason: null });
    expect(await mirroredAccounts(s.prisma)).toEqual(expectedMirror({ simulator: s.sim }));
    const history = await changesOf(account.id);
    expect(history.slice(1)).toEqual([{ from_status: 'ACTIVE', to_status: 'LOCKED', source: 'webhook', event: eventId, run: null }]);
    const [row] = await s.prisma.$queryRaw<Array<{ last_webhook_event_id: string }>>`
      SELECT last_webhook_event_id::text FROM accounts WHERE id = ${account.id}::uuid`;
    expect(row!.last_webhook_event_id).toBe(eventId);

    // The sync sees the same version: nothing more to record.
    const run = await sync();
    expect(run.statusChanges).toBe(0);
    expect(await changesOf(account.id)).toHaveLength(2);
  });

  it('records the fields and owners an event changes with the event as their source, once (issue 25)', async () => {
    const account = activeAccount(2);
    const joint = s.sim.dataset.newUserId();
    s.sim.dataset.rename(account.id, 'Renamed By Event');
    const renamed = await nextEventAbout(account.id);
    await processed(renamed);
    s.sim.dataset.setUsers(account.id, [...account.users.map((u) => ({ id: u.id, type: u.type })), { id: joint, type: 'GUARDIAN', extra: { since: 2025 } }]);
    const attempt = await s.sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === account.id && e.id !== renamed));
    const relinked = attempt.events.filter((e) => e.objectId === account.id).at(-1)!.id;
    await processed(relinked);
    const fieldChanges = async () =>
      s.prisma.$queryRaw<Array<{ field: string; user_id: string | null; old_value: unknown; new_value: unknown; source: string; event: string | null; run: string | null }>>`
        SELECT field, user_id::text, old_value, new_value, source, webhook_event_id::text AS event, sync_run_id::text AS run
        FROM account_changes WHERE account_id = ${account.id}::uuid ORDER BY id`;
    const expected = [
      { field: 'name', user_id: null, old_value: account.name, new_value: 'Renamed By Event', source: 'webhook', event: renamed, run: null },
      { field: 'user', user_id: joint, old_value: null, new_value: { type: 'GUARDIAN', extra: { since: 2025 } }, source: 'webhook', event: relinked, run: null },
    ];
    expect(await fieldChanges()).toEqual(expected);
    // The sync then sees the same version: nothing is recorded twice.
    await sync();
    expect(await fieldChanges()).toEqual(expected);
  });

  it('is a duplicate when the sync saw the change first', async () => {
    const account = activeAccount(1);
    // Deliveries fail (the body no longer matches its digest) until the sync has run.
    s.sim.webhooks.switches.arm('tamper-body', 1_000);
    s.sim.dataset.setStatus(account.id, 'CLOSING');
    const run = await sync();
    expect(run.statusChanges).toBe(1);
    s.sim.webhooks.switches.clear();
    const eventId = await nextEventAbout(account.id);
    await processed(eventId);
    expect(await outcomeOf(eventId)).toEqual({
      outcome: 'duplicate',
      reason: 'the mirror already held this version of the account or a newer one',
    });
    expect((await changesOf(account.id)).slice(1)).toEqual([
      { from_status: 'ACTIVE', to_status: 'CLOSING', source: 'sync', event: null, run: String(run.runId) },
    ]);
  });

  it('applies a re-delivered batch once', async () => {
    const account = activeAccount(2);
    s.sim.webhooks.switches.arm('duplicate');
    s.sim.dataset.setStatus(account.id, 'LOCKED');
    const eventId = await nextEventAbout(account.id);
    const deliveredWith = () => s.sim.webhooks.attempts.filter((a) => a.status === 200 && a.events.some((e) => e.id === eventId)).length;
    await s.sim.webhooks.waitFor(() => deliveredWith() === 2);
    await processed(eventId);
    const [stored] = await s.prisma.$queryRaw<Array<{ deliveries: number; outcome: string }>>`
      SELECT deliveries, outcome FROM webhook_events WHERE event_id = ${eventId}::uuid`;
    expect(stored).toEqual({ deliveries: 2, outcome: 'applied' });
    expect((await changesOf(account.id)).slice(1).map((c) => c.to_status)).toEqual(['LOCKED']);
  });

  it('ends with the newest state when deliveries arrive out of order', async () => {
    // Upvest orders events within a delivery, not across deliveries: the newer snapshot can
    // arrive first. Emitted here in that order, each in its own delivery.
    const account = activeAccount(3);
    const newer = s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.CLOSING_INITIATED', { ...account, status: 'CLOSING', updated_at: '2030-01-01T00:00:02.000002Z' }, {
      created_at: '2030-01-01T00:00:02.000002001Z',
    });
    await processed(newer);
    const older = s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.LOCKED', { ...account, status: 'LOCKED', updated_at: '2030-01-01T00:00:01.000001Z' }, {
      created_at: '2030-01-01T00:00:01.000001001Z',
    });
    await processed(older);
    const stored = await s.prisma.$queryRaw<Array<{ status: string; updated_at: string }>>`
      SELECT status, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS updated_at FROM accounts WHERE id = ${account.id}::uuid`;
    expect(stored).toEqual([{ status: 'CLOSING', updated_at: '2030-01-01T00:00:02.000002' }]);
    // The older snapshot came last and changed nothing: the newest state stands.
    expect(await outcomeOf(newer)).toMatchObject({ outcome: 'applied' });
    expect(await outcomeOf(older)).toMatchObject({ outcome: 'duplicate' });
    expect((await changesOf(account.id)).slice(1).map((c) => [c.to_status, c.event])).toEqual([['CLOSING', newer]]);
  });

  it('keeps events of other types as ignored, and a bad account object aside as rejected', async () => {
    const other = s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT_GROUP.CREATED', { id: 'fa2414ed-8d62-46fd-85ed-565a340c81d6' });
    const account = activeAccount(4);
    const bad = s.sim.webhooks.emit('ACCOUNT', 'ACCOUNT.UPDATED', { ...account, name: 7 });
    await processed(other);
    await processed(bad);
    expect(await outcomeOf(other)).toEqual({ outcome: 'ignored', reason: 'not an account event type: ACCOUNT_GROUP.CREATED' });
    expect(await outcomeOf(bad)).toEqual({ outcome: 'rejected', reason: 'object: name must be string' });
    const [kept] = await s.prisma.$queryRaw<Array<{ account_id: string; reason: string; sync_run_id: string | null; name: unknown }>>`
      SELECT account_id, reason, sync_run_id::text, raw->'name' AS name FROM rejected_records WHERE webhook_event_id = ${bad}::uuid`;
    expect(kept).toEqual({ account_id: account.id, reason: 'object: name must be string', sync_run_id: null, name: 7 });
    expect(applied.every((r) => !r.busy)).toBe(true);
  });
});
