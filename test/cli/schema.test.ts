// DATABASE_URL's ?schema= is honoured by every command: migrate creates the mirror in that
// schema, and every connection (Prisma's pool, single clients, the run lock's) finds it there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { runCli } from '../support/cli.js';

let h: Harness;
let databaseUrl: string;

beforeAll(async () => {
  h = await startHarness('cli_schema', { accounts: 250, seed: 5 }, { migrate: false });
  const url = new URL(h.db.url);
  url.searchParams.set('schema', 'mirror');
  databaseUrl = url.toString();
});
afterAll(() => h?.close());

describe('DATABASE_URL with ?schema=mirror', () => {
  it('migrates, syncs and reports in that schema, and leaves public empty', async () => {
    const env = { ...h.env, DATABASE_URL: databaseUrl };
    const migrated = await runCli(['migrate'], env);
    expect([migrated.code, migrated.stderr]).toEqual([0, '']);
    expect(migrated.stdout).toMatch(new RegExp(`^Applied \\d+ migrations \\(.*\\) to ${h.db.name}\\.\\n$`));

    const synced = await runCli(['sync', '--json'], env);
    expect([synced.code, synced.stderr]).toEqual([0, '']);
    expect(JSON.parse(synced.stdout)).toMatchObject({ status: 'succeeded', accounts_seen: 250, accounts_inserted: 250 });

    const status = await runCli(['status', '--json'], { ...env, SYNC_INTERVAL_MS: '900000' });
    expect([status.code, status.stderr]).toEqual([0, '']);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'ok', accounts: { live: 250, deleted: 0 } });

    const tables = await h.prisma.$queryRaw<Array<{ name: string }>>`
      SELECT table_schema || '.' || table_name AS name FROM information_schema.tables
      WHERE table_schema IN ('public', 'mirror') AND table_type = 'BASE TABLE' ORDER BY 1`;
    expect(tables.map((t) => t.name)).toEqual([
      'mirror._prisma_migrations',
      'mirror.account_changes',
      'mirror.account_status_changes',
      'mirror.account_users',
      'mirror.accounts',
      'mirror.rejected_records',
      'mirror.sync_deferred_foreign_keys',
      'mirror.sync_deferred_indexes',
      'mirror.sync_page_fingerprints',
      'mirror.sync_run_pages',
      'mirror.sync_runs',
      'mirror.users',
      'mirror.webhook_events',
    ]);
    const [mirror] = await h.prisma.$queryRaw<Array<{ accounts: number; runs: number }>>`
      SELECT (SELECT count(*)::int FROM mirror.accounts) AS accounts,
             (SELECT count(*)::int FROM mirror.sync_runs WHERE status = 'succeeded') AS runs`;
    expect(mirror).toEqual({ accounts: 250, runs: 1 });
  });
});
