// `account-sync receiver` and `account-sync webhooks …` as a user runs them: real processes,
// settings from the environment, against the simulator and a database over real connections.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Env } from '../../src/config/index.js';
import { openClient } from '../../src/db/pg-client.js';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { runCli, spawnCli } from '../support/cli.js';
import { httpGet, metric, pollUntil } from '../support/daemon.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let sim: Simulator;
let prisma: PrismaClient;
let keyDir: string;
let env: Env;

beforeAll(async () => {
  db = await createTestDatabase('webhook_cli');
  sim = await startSimulator({ accounts: 10, webhookTimeUnitMs: 5 });
  keyDir = mkdtempSync(join(tmpdir(), 'account-sync-webhook-cli-'));
  writeFileSync(join(keyDir, 'upvest.pem'), sim.privateKeyPem ?? '', { mode: 0o600 });
  prisma = createPrisma(db.url, { poolSize: 2 });
  env = {
    DATABASE_URL: db.url,
    UPVEST_BASE_URL: sim.url,
    UPVEST_CLIENT_ID: sim.clientId,
    UPVEST_CLIENT_SECRET: sim.clientSecret,
    UPVEST_SIGNING_KEY_FILE: join(keyDir, 'upvest.pem'),
    UPVEST_SIGNING_KEY_ID: sim.keyId,
    WEBHOOK_RECEIVER_HOST: '127.0.0.1',
    WEBHOOK_RECEIVER_PORT: '0',
    WEBHOOK_RECEIVER_HEALTH_PORT: '0',
    LOG_LEVEL: 'info',
  };
});
afterAll(async () => {
  await sim?.close();
  await prisma?.$disconnect();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
  await db?.drop();
});

const cli = (args: string[]) => runCli(args, env);

async function statusChangesOf(accountId: string) {
  return prisma.$queryRaw<Array<{ to_status: string; source: string; event: string | null }>>`
    SELECT to_status, source, webhook_event_id::text AS event FROM account_status_changes WHERE account_id = ${accountId}::uuid ORDER BY id`;
}

describe('account-sync receiver and webhooks', () => {
  it('registers the receiver, receives a change, lists, tests and deletes the subscription, and stops on SIGTERM', async () => {
    const receiver = spawnCli(['receiver'], env);
    const listening = await receiver.waitForLog((line) => line.msg?.includes('webhook receiver listening on') ?? false, 'the receiver');
    const port = listening.port as number;
    const url = `http://127.0.0.1:${port}/webhooks/upvest`;

    const registered = await cli(['webhooks', 'register', '--url', url, '--types', 'ACCOUNT', '--json']);
    expect(registered.code).toBe(0);
    const webhook = JSON.parse(registered.stdout) as { id: string; enabled: boolean; type: string[]; url: string; config: unknown };
    expect(webhook).toMatchObject({ enabled: true, type: ['ACCOUNT'], url, config: { delay: '1s', max_package_size: 1_048_576 } });

    const account = sim.dataset.at(0)!;
    sim.dataset.rename(account.id, 'Seen by the receiver');
    const attempt = await sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === account.id));
    const rows = await prisma.$queryRaw<Array<{ event_id: string; type: string }>>`SELECT event_id::text, type FROM webhook_events`;
    expect(rows).toEqual([{ event_id: attempt.events[0]!.id, type: 'ACCOUNT.UPDATED' }]);

    const listed = await cli(['webhooks', 'list', '--json']);
    expect([listed.code, (JSON.parse(listed.stdout) as Array<{ id: string }>).map((w) => w.id)]).toEqual([0, [webhook.id]]);
    const tested = await cli(['webhooks', 'test', webhook.id]);
    expect([tested.code, tested.stdout]).toEqual([0, `test delivery requested for ${webhook.id} (HTTP 202)\n`]);
    await sim.webhooks.waitFor((a) => a.status === 200 && a.events[0]?.type === 'WEBHOOK.TEST');
    // Both applied by the receiver, which learns of the subscription registered after it
    // started from the first event that names it (and leaves the tests after this one nothing).
    const settled = await pollUntil(async () => {
      const events = await prisma.$queryRaw<Array<{ type: string; outcome: string | null }>>`SELECT type, outcome FROM webhook_events ORDER BY seq`;
      return events.every((e) => e.outcome !== null) ? events : undefined;
    }, 'the events to be applied');
    expect(settled).toEqual([
      { type: 'ACCOUNT.UPDATED', outcome: 'applied' },
      { type: 'WEBHOOK.TEST', outcome: 'ignored' },
    ]);
    expect((await prisma.$queryRaw<Array<{ name: string }>>`SELECT name FROM accounts WHERE id = ${account.id}::uuid`)[0]).toEqual({ name: 'Seen by the receiver' });
    const deleted = await cli(['webhooks', 'delete', webhook.id]);
    expect([deleted.code, deleted.stdout]).toEqual([0, `deleted ${webhook.id}\n`]);
    expect((await cli(['webhooks', 'list'])).stdout).toBe('no webhook subscriptions\n');

    receiver.kill('SIGTERM');
    expect(await receiver.exited).toEqual({ code: 0, signal: null });
  });

  it('writes no access token it received, not even one that Upvest echoes back', async () => {
    sim.faults.enqueue('/webhooks', { kind: 'echoToken', status: 403 });
    const listed = await cli(['webhooks', 'list']);
    const [listToken] = sim.issuedTokens().slice(-1);
    expect([listed.code, listed.stdout]).toEqual([1, '']);
    expect(listed.stderr).toMatch(/^account-sync webhooks list: .*access token \[redacted\]/m);
    expect(listed.stderr).not.toContain(listToken);

    sim.faults.enqueue('/auth/verify_keys', { kind: 'echoToken', status: 403 });
    const receiver = spawnCli(['receiver'], env);
    const warning = await receiver.waitForLog((line) => line.msg?.includes('verification keys not loaded yet') ?? false, 'the keys warning');
    const [receiverToken] = sim.issuedTokens().slice(-1);
    receiver.kill('SIGTERM');
    await receiver.closed;
    expect(warning.msg).toContain('access token [redacted]');
    expect(receiver.stderr()).not.toContain(receiverToken);
  });

  it('loses nothing when a receiver dies between storing and applying: the next one applies it, once', async () => {
    // A receiver that only stores (WEBHOOK_APPLY=false), killed once the delivery is stored.
    const storing = spawnCli(['receiver'], { ...env, WEBHOOK_APPLY: 'false' });
    const port = ((await storing.waitForLog((l) => l.msg?.includes('webhook receiver listening on') ?? false, 'the receiver')).port) as number;
    const url = `http://127.0.0.1:${port}/webhooks/upvest`;
    const registered = JSON.parse((await cli(['webhooks', 'register', '--url', url, '--json'])).stdout) as { id: string };
    const account = sim.dataset.at(3)!;
    sim.dataset.setStatus(account.id, 'LOCKED');
    const attempt = await sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === account.id));
    const eventId = attempt.events.find((e) => e.objectId === account.id)!.id;
    storing.kill('SIGKILL');
    await storing.closed;
    const [pending] = await prisma.$queryRaw<Array<{ outcome: string | null }>>`SELECT outcome FROM webhook_events WHERE event_id = ${eventId}::uuid`;
    expect(pending).toEqual({ outcome: null });

    const applying = spawnCli(['receiver'], env);
    const health = ((await applying.waitForLog((l) => l.msg === 'webhook receiver started', 'the receiver')).healthPort) as number;
    const row = await pollUntil(async () => {
      const [r] = await prisma.$queryRaw<Array<{ status: string }>>`SELECT status FROM accounts WHERE id = ${account.id}::uuid`;
      return r;
    }, 'the event to be applied');
    expect(row).toEqual({ status: 'LOCKED' });
    const changes = await prisma.$queryRaw<Array<{ to_status: string; source: string; event: string }>>`
      SELECT to_status, source, webhook_event_id::text AS event FROM account_status_changes WHERE account_id = ${account.id}::uuid`;
    expect(changes).toEqual([{ to_status: 'LOCKED', source: 'webhook', event: eventId }]);
    const metrics = (await httpGet(`http://127.0.0.1:${health}/metrics`)).body;
    expect(metric(metrics, 'account_sync_webhook_events_applied_total{outcome="applied"}')).toBe(1);
    expect(metric(metrics, 'account_sync_webhook_events_pending')).toBe(0);
    applying.kill('SIGTERM');
    expect(await applying.exited).toEqual({ code: 0, signal: null });
    await cli(['webhooks', 'delete', registered.id]);
  });

  it('loses nothing when a receiver dies while applying: its transaction leaves nothing, and the next one applies it, once', async () => {
    // A gate in the test's database: a webhook's status change waits for an advisory lock the
    // test holds, so the receiver is killed inside its apply transaction, after it wrote the account.
    const GATE = 240_025;
    await prisma.$executeRawUnsafe(`
      CREATE FUNCTION test_apply_gate() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_advisory_xact_lock_shared(${GATE}); RETURN NEW; END $$`);
    await prisma.$executeRawUnsafe(
      `CREATE TRIGGER test_apply_gate BEFORE INSERT ON account_status_changes FOR EACH ROW WHEN (NEW.source = 'webhook') EXECUTE FUNCTION test_apply_gate()`,
    );
    const gate = await openClient(db.url, 'test apply gate');
    try {
      await gate.query(`SELECT pg_advisory_lock(${GATE})`);
      const dying = spawnCli(['receiver'], env);
      const port = ((await dying.waitForLog((l) => l.msg?.includes('webhook receiver listening on') ?? false, 'the receiver')).port) as number;
      const registered = JSON.parse((await cli(['webhooks', 'register', '--url', `http://127.0.0.1:${port}/webhooks/upvest`, '--json'])).stdout) as { id: string };
      const account = sim.dataset.at(5)!;
      const before = await statusChangesOf(account.id);
      sim.dataset.setStatus(account.id, 'CLOSED');
      const attempt = await sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === account.id));
      const eventId = attempt.events.find((e) => e.objectId === account.id)!.id;
      // The apply waits at the gate, inside its transaction: the account row is written, its change not yet.
      const waiting = await pollUntil(async () => {
        const [row] = await gate.query<{ pid: number }>(
          `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          [GATE],
        ).then((r) => r.rows);
        return row?.pid;
      }, 'the apply to wait at the gate');
      dying.kill('SIGKILL');
      await dying.closed;
      await gate.query(`SELECT pg_advisory_unlock(${GATE})`);
      // Its backend notices the client gone and rolls back: nothing of the apply is left.
      await pollUntil(async () => ((await gate.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [waiting])).rowCount === 0 ? true : undefined), 'the dead receiver\'s backend to end');
      const [pending] = await prisma.$queryRaw<Array<{ outcome: string | null }>>`SELECT outcome FROM webhook_events WHERE event_id = ${eventId}::uuid`;
      expect(pending).toEqual({ outcome: null });
      expect(await statusChangesOf(account.id)).toEqual(before);
      const [stale] = await prisma.$queryRaw<Array<{ status: string }>>`SELECT status FROM accounts WHERE id = ${account.id}::uuid`;
      expect(stale?.status).not.toBe('CLOSED');

      const applying = spawnCli(['receiver'], env);
      const health = ((await applying.waitForLog((l) => l.msg === 'webhook receiver started', 'the receiver')).healthPort) as number;
      await pollUntil(async () => {
        const [r] = await prisma.$queryRaw<Array<{ outcome: string | null }>>`SELECT outcome FROM webhook_events WHERE event_id = ${eventId}::uuid`;
        return r?.outcome ?? undefined;
      }, 'the event to be applied');
      const [row] = await prisma.$queryRaw<Array<{ status: string }>>`SELECT status FROM accounts WHERE id = ${account.id}::uuid`;
      expect(row).toEqual({ status: 'CLOSED' });
      expect(await statusChangesOf(account.id)).toEqual([...before, { to_status: 'CLOSED', source: 'webhook', event: eventId }]);
      const metrics = (await httpGet(`http://127.0.0.1:${health}/metrics`)).body;
      expect(metric(metrics, 'account_sync_webhook_events_applied_total{outcome="applied"}')).toBe(1);
      expect(metric(metrics, 'account_sync_webhook_events_pending')).toBe(0);
      applying.kill('SIGTERM');
      expect(await applying.exited).toEqual({ code: 0, signal: null });
      await cli(['webhooks', 'delete', registered.id]);
    } finally {
      await gate.end();
      await prisma.$executeRawUnsafe(`DROP TRIGGER test_apply_gate ON account_status_changes`);
      await prisma.$executeRawUnsafe(`DROP FUNCTION test_apply_gate()`);
    }
  });

  // --help and --bogus of every command: test/cli/conventions.test.ts.
  it('holds events to SYNC_EXTRA_MAX_BYTES as a sync does: one past it is stored rejected with the reason, the mirror unchanged', async () => {
    const receiver = spawnCli(['receiver'], { ...env, SYNC_EXTRA_MAX_BYTES: '64' });
    const port = ((await receiver.waitForLog((l) => l.msg?.includes('webhook receiver listening on') ?? false, 'the receiver')).port) as number;
    const registered = JSON.parse((await cli(['webhooks', 'register', '--url', `http://127.0.0.1:${port}/webhooks/upvest`, '--json'])).stdout) as { id: string };
    try {
      const account = sim.dataset.at(7)!; // one no test before changed: waitFor finds past deliveries too
      const [before] = await prisma.$queryRaw<Array<{ name: string; extra: unknown }>>`SELECT name, extra FROM accounts WHERE id = ${account.id}::uuid`;
      sim.dataset.setExtra(account.id, { note: 'x'.repeat(100) });
      const attempt = await sim.webhooks.waitFor((a) => a.status === 200 && a.events.some((e) => e.objectId === account.id));
      const eventId = attempt.events.find((e) => e.objectId === account.id)!.id;
      const row = await pollUntil(async () => {
        const [r] = await prisma.$queryRaw<Array<{ outcome: string | null; reason: string | null }>>`
          SELECT outcome, reason FROM webhook_events WHERE event_id = ${eventId}::uuid AND outcome IS NOT NULL`;
        return r;
      }, 'the event to be settled');
      // {"note":"x…x"} with 100 x: 111 bytes, past the receiver's 64 (the default is 16384).
      expect(row).toEqual({ outcome: 'rejected', reason: 'object: record has unknown fields of 111 bytes as JSON, more than 64' });
      const [after] = await prisma.$queryRaw<Array<{ name: string; extra: unknown }>>`SELECT name, extra FROM accounts WHERE id = ${account.id}::uuid`;
      expect(after).toEqual(before);
    } finally {
      receiver.kill('SIGTERM');
      await receiver.exited;
      await cli(['webhooks', 'delete', registered.id]);
    }
  });

  it('answers a bad option or subcommand with what is wrong, its usage and exit 2', async () => {
    for (const [args, message] of [
      [['receiver', '--port', '1'], "account-sync receiver: Unknown option '--port'"],
      [['webhooks', 'register'], 'account-sync webhooks: register needs --url'],
      [['webhooks', 'test'], 'account-sync webhooks: test needs one subscription ID'],
      [['webhooks', 'rename', 'x'], 'account-sync webhooks: unknown subcommand "rename"'],
    ] as const) {
      const { code, stderr } = await cli([...args]);
      expect([code, stderr.split('\n')[0]]).toEqual([2, message]);
      expect(stderr).toContain('usage: account-sync');
    }
  });
});
