// The promise of a run that exits 0, through `account-sync sync` against the simulator over
// real HTTP, where the list moves under the walk as a real tenant's does: accounts deleted ahead
// of the walk's position while it walks and between killed attempts of one run, accounts
// created in bulk whose shared created_at the server orders anew on every request, a bulk update
// giving thousands of accounts one updated_at, and a lookup route that is not there. Every run
// that exits 0 is checked for every account listed during the whole run (from its first attempt),
// and a run that cannot prove it lists them says so and does not exit 0.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServedPage } from '../../src/simulator/index.js';
import { runCli, spawnCli } from '../support/cli.js';
import { expectedMirror, mirroredAccounts, startHarness, type Harness } from '../support/harness.js';

type SyncJson = {
  run_id: string;
  status: string;
  walk_consistent: boolean;
  heal_requests: number;
  deletions: number;
  deletions_complete: boolean | null;
  deletions_note: string | null;
  error_code: string | null;
  error: string | null;
};

async function sync(h: Harness, args: string[] = [], env: Record<string, string> = {}): Promise<{ code: number | null; run: SyncJson }> {
  const result = await runCli(['sync', '--json', ...args], { ...h.env, ...env });
  expect(result.stdout, result.stderr).not.toBe('');
  return { code: result.code, run: JSON.parse(result.stdout) as SyncJson };
}

/** Live account ids in the mirror. */
async function liveIds(h: Harness): Promise<Set<string>> {
  return new Set((await mirroredAccounts(h.prisma)).map((a) => a.id));
}

/** Ids of accounts marked deleted. */
async function deletedIds(h: Harness): Promise<string[]> {
  const rows = await h.prisma.account.findMany({ where: { deletedAt: { not: null } }, select: { id: true } });
  return rows.map((r) => r.id).sort();
}

/** Runs `act` after the simulator has served `n` pages of the created_at walk (one observer). */
function afterPages(h: Harness, n: number, act: () => void): () => void {
  let served = 0;
  return h.simulator.observePages((page: ServedPage) => {
    if (page.sort !== 'created_at') return;
    served += 1;
    if (served === n) act();
  });
}

describe('accounts deleted ahead of the walk', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('shifts_deleted', { accounts: 3000, seed: 21 });
  });
  afterAll(() => h?.close());

  it('while it walks: forty at the head after its 4th request and forty more after its 8th, and it still lists every account', async () => {
    const initial = h.simulator.dataset.ids();
    const removed: string[] = [];
    const removeHead = () => {
      for (const id of h.simulator.dataset.ids().slice(0, 40)) {
        h.simulator.dataset.remove(id);
        removed.push(id);
      }
    };
    const stops = [afterPages(h, 4, removeHead), afterPages(h, 8, removeHead)];
    const { code, run } = await sync(h);
    stops.forEach((stop) => stop());
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', walk_consistent: true, deletions: 0 });
    // The walk went back for what the shifts stepped over.
    expect(run.heal_requests).toBeGreaterThan(0);
    const live = await liveIds(h);
    const throughout = initial.filter((id) => !removed.includes(id));
    expect(throughout.filter((id) => !live.has(id))).toEqual([]);
    expect(live.size).toBe(3000);

    // The next run marks the eighty deleted, and the mirror is exact.
    const next = await sync(h);
    expect(next).toMatchObject({ code: 0, run: { status: 'succeeded', deletions: 80, heal_requests: 0 } });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
    expect(await deletedIds(h)).toEqual([...removed].sort());
  });

  it('between killed attempts of one run, and the resumed run still lists every account listed throughout', async () => {
    const initial = h.simulator.dataset.ids();
    const removed = new Set<string>();
    let runId: string | undefined;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      // Killed once the walk is well under way: the run is left running, with pages committed.
      const cli = spawnCli(['sync', '--json'], { ...h.env, SYNC_CONCURRENCY: '2' });
      const killed = new Promise<void>((resolve) => {
        const stop = afterPages(h, 12, () => {
          stop();
          cli.kill('SIGKILL');
          resolve();
        });
      });
      await killed;
      await cli.exited;
      // Meanwhile upstream deletes accounts ahead of where the walk stopped, and adds some.
      const ids = h.simulator.dataset.ids();
      for (const id of ids.slice(400 + attempt * 300, 450 + attempt * 300)) {
        h.simulator.dataset.remove(id);
        removed.add(id);
      }
      for (const id of ids.slice(10 + attempt * 5, 30 + attempt * 5)) {
        h.simulator.dataset.remove(id);
        removed.add(id);
      }
      h.simulator.dataset.add(20);
    }
    const resumed = await sync(h);
    runId = resumed.run.run_id;
    expect(resumed.code).toBe(0);
    expect(resumed.run).toMatchObject({ status: 'succeeded', walk_consistent: true });
    const row = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: BigInt(runId) } });
    expect(row.resumes).toBe(3);
    const live = await liveIds(h);
    expect(initial.filter((id) => !removed.has(id) && !live.has(id))).toEqual([]);
    // Nothing listed throughout was marked deleted; what it marked had gone.
    expect((await deletedIds(h)).filter((id) => !removed.has(id) && initial.includes(id))).toEqual([]);
    const next = await sync(h);
    expect(next.code).toBe(0);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});

describe('accounts created in bulk, their created_at ties served in a new order on every request', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('shifts_ties', { accounts: 3000, seed: 22, bulkCreated: true, shuffleTies: 7 });
  });
  afterAll(() => h?.close());

  it('lists every one of them, and needs no window when the pages share more than a tie group', async () => {
    const { code, run } = await sync(h);
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', walk_consistent: true, heal_requests: 0 });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('goes back for a tie group across a page edge when the pages share fewer, and still lists every one', async () => {
    // Renamed, so that only a run that lists them all has all the new names.
    for (const id of h.simulator.dataset.ids()) if (Number.parseInt(id.slice(0, 2), 16) % 3 === 0) h.simulator.dataset.rename(id, `Renamed ${id.slice(0, 8)}`);
    const { code, run } = await sync(h, [], { SYNC_PAGE_OVERLAP: '2' });
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', walk_consistent: true });
    expect(run.heal_requests).toBeGreaterThan(5);
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('with no window allowed, says it cannot prove the walk and exits 4, marking nothing deleted', async () => {
    h.simulator.dataset.remove(h.simulator.dataset.ids()[100]!);
    const { code, run } = await sync(h, [], { SYNC_PAGE_OVERLAP: '1', SYNC_MAX_HEAL_REQUESTS: '0' });
    expect(code).toBe(4);
    expect(run).toMatchObject({ status: 'incomplete', error_code: 'SYNC_WALK_UNPROVEN', deletions: 0, walk_consistent: false });
    expect(run.error).toMatch(/^the walk cannot prove it listed every account \(SYNC_MAX_HEAL_REQUESTS \(0\) windows were spent\): accounts at \d{4}-/);
    expect(await deletedIds(h)).toEqual([]);
    // The next run settles it.
    expect(await sync(h)).toMatchObject({ code: 0, run: { status: 'succeeded', deletions: 1 } });
  });
});

describe('a bulk update giving thousands of accounts one updated_at, served in a new order on every request', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('shifts_bulk_update', { accounts: 3000, seed: 23 });
  });
  afterAll(() => h?.close());
  afterEach(() => h.simulator.dataset.shuffleTies(null));

  it('an incremental run lists every change when the group fits in a page', async () => {
    expect((await sync(h)).code).toBe(0);
    const ids = h.simulator.dataset.ids().filter((_, i) => i % 10 === 3).slice(0, 300);
    h.simulator.dataset.setStatuses(ids, 'LOCKED');
    h.simulator.dataset.shuffleTies(11);
    const { code, run } = await sync(h, ['--incremental'], { SYNC_PAGE_SIZE: '1000' });
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', walk_consistent: true });
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });

  it('an incremental run that meets a group larger than a page exits 4, and the next run is a full one that lists them all', async () => {
    const ids = h.simulator.dataset.ids().filter((_, i) => i % 2 === 1);
    h.simulator.dataset.setStatuses(ids, 'CLOSING');
    h.simulator.dataset.shuffleTies(12);
    const { code, run } = await sync(h, ['--incremental'], { SYNC_PAGE_SIZE: '1000' });
    expect(code).toBe(4);
    expect(run).toMatchObject({ status: 'incomplete', error_code: 'SYNC_WALK_UNPROVEN' });
    expect(run.error).toContain('more than 998 accounts share one updated_at, more than a page can prove');
    const next = await sync(h, ['--incremental'], { SYNC_PAGE_SIZE: '1000' });
    expect(next.code).toBe(0);
    const row = await h.prisma.syncRun.findUniqueOrThrow({ where: { id: BigInt(next.run.run_id) } });
    expect(row.mode).toBe('full');
    expect(await mirroredAccounts(h.prisma)).toEqual(expectedMirror(h));
  });
});

describe('deletions by lookup', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('shifts_lookup', { accounts: 800, seed: 24 });
  });
  afterAll(() => h?.close());

  /** A record without a usable id: the walk cannot name what it listed, and looks up what it did not list. */
  function withoutId(position: number): void {
    const account = h.simulator.dataset.served(h.simulator.dataset.ids()[position]!)!;
    h.simulator.dataset.serveRaw(String(account.id), JSON.stringify({ ...account, id: undefined }));
  }

  it('marks no live account deleted when a gateway answers every lookup 404 without Upvest problem+json', async () => {
    expect((await sync(h)).code).toBe(0);
    withoutId(50);
    const gone = h.simulator.dataset.ids()[300]!;
    h.simulator.dataset.remove(gone);
    h.simulator.faults.setRandom({ probability: 1, path: '/accounts/*', kinds: [{ kind: 'status', status: 404, body: '404 page not found', contentType: 'text/plain' }] });
    const { code, run } = await sync(h);
    h.simulator.faults.setRandom(null);
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', deletions: 0, deletions_complete: false });
    expect(run.deletions_note).toMatch(/answered 404: no account is marked deleted by lookup, left to the next full run$/);
    expect(await deletedIds(h)).toEqual([]);
  });

  it('marks no live account deleted when Upvest-like 404s come for every account, the route unproven', async () => {
    h.simulator.faults.setRandom({ probability: 1, path: '/accounts/*', kinds: [{ kind: 'status', status: 404, body: JSON.stringify({ type: 'https://docs.upvest.co/errors/not_found', status: 404, title: 'Not Found' }), contentType: 'application/problem+json' }] });
    const { code, run } = await sync(h);
    h.simulator.faults.setRandom(null);
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', deletions: 0, deletions_complete: false });
    expect(await deletedIds(h)).toEqual([]);
  });

  it('marks nothing deleted, and still succeeds, when a lookup fails after the route was shown to work', async () => {
    // The probe is answered; the next lookup is refused (403 is not retried).
    h.simulator.faults.enqueue('/accounts/*', { kind: 'latency', ms: 0 }, { kind: 'status', status: 403 });
    const { code, run } = await sync(h);
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', deletions: 0, deletions_complete: false });
    expect(run.deletions_note).toMatch(/failed \(UPVEST_FORBIDDEN|HTTP 403/);
    expect(await deletedIds(h)).toEqual([]);
  });

  it('trusts the lookup route once it found a listed account, and marks exactly the one gone', async () => {
    const { code, run } = await sync(h);
    expect(code).toBe(0);
    expect(run).toMatchObject({ status: 'succeeded', deletions: 1, deletions_complete: true });
    expect(await deletedIds(h)).toHaveLength(1);
  });
});
