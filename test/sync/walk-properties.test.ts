// Properties of a whole run against a server whose pages shift (accounts removed or added
// ahead of the cursor), shrink, repeat, and lie about total_count, through runSync, the real
// store and PostgreSQL, with the server an object the test drives request by request:
//   - never a wrong deletion: no account listed during the whole run is marked deleted;
//   - the verdict is right: a walk judged consistent saw every account listed throughout, and
//     a server that misbehaved in no way the walk could see gives a consistent walk;
//   - the next run against a server that behaves again marks exactly the accounts gone.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPrisma, type PrismaClient } from '../../src/db/prisma.js';
import { silentLogger } from '../../src/logger.js';
import { runSync } from '../../src/sync/run.js';
import type { AccountLookup, AccountsPage, ListAccountsQuery, ListOptions, UpvestClient } from '../../src/upvest/client.js';
import { recordsDigest } from '../../src/upvest/page-digest.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  db = await createTestDatabase('walk_properties');
  prisma = createPrisma(db.url, { poolSize: 6 });
});
afterAll(async () => {
  await prisma?.$disconnect();
  await db?.drop();
});

type Action =
  | { kind: 'remove'; position: number }
  | { kind: 'insert'; position: number }
  | { kind: 'shrink'; by: number }
  | { kind: 'repeat' }
  | { kind: 'lie'; by: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('remove' as const), position: fc.nat(100) }),
  fc.record({ kind: fc.constant('insert' as const), position: fc.nat(100) }),
  fc.record({ kind: fc.constant('shrink' as const), by: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ kind: fc.constant('repeat' as const) }),
  fc.record({ kind: fc.constant('lie' as const), by: fc.integer({ min: -4, max: 4 }).filter((n) => n !== 0) }),
);

let serial = 0;
function account(iteration: number): Record<string, unknown> {
  serial += 1;
  const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
  return {
    id: `${hex(iteration, 8)}-0000-4000-8000-${hex(serial, 12)}`,
    created_at: new Date(Date.UTC(2024, 0, 1) + serial * 1000).toISOString(),
    updated_at: new Date(Date.UTC(2024, 0, 1) + serial * 1000).toISOString(),
    account_group_id: '10000000-0000-4000-8000-000000000001',
    type: 'TRADING',
    users: [{ id: '20000000-0000-4000-8000-000000000001', type: 'OWNER' }],
    name: `Account ${serial}`,
    status: 'ACTIVE',
    account_number: serial,
  };
}

/** Pages the runs recognised by their digest, and reads of such a page's records (decoding them). */
let recognisedPages = 0;
let decodedRecognised = 0;

/** A server over `list`; before its request n it does what `script` says for n. */
function server(list: Array<Record<string, unknown>>, iteration: number, script: Map<number, Action[]> = new Map()) {
  const removed = new Set<string>();
  let requests = 0;
  let fired = 0;
  let previous: unknown[] = [];
  const client: UpvestClient = {
    async listAccounts(query: ListAccountsQuery, _signal?: AbortSignal, options?: ListOptions): Promise<AccountsPage> {
      const actions = script.get(requests++) ?? [];
      let lie = 0;
      let repeat = false;
      for (const a of actions) {
        fired += 1;
        if (a.kind === 'remove' && list.length > 0) removed.add(String(list.splice(a.position % list.length, 1)[0]!.id));
        if (a.kind === 'insert') list.splice(a.position % (list.length + 1), 0, account(iteration));
        if (a.kind === 'shrink') for (const gone of list.splice(Math.max(0, list.length - a.by))) removed.add(String(gone.id));
        if (a.kind === 'repeat') repeat = true;
        if (a.kind === 'lie') lie = a.by;
      }
      const data =
        query.sort === 'updated_at' ? list.slice(0, 1) : repeat && previous.length > 0 ? previous : list.slice(query.offset, query.offset + query.limit);
      if (query.sort === 'created_at') previous = data;
      const meta = { offset: query.offset, limit: query.limit, count: data.length, total_count: Math.max(0, list.length + lie) };
      const digest = recordsDigest(Buffer.from(JSON.stringify({ meta, data })), data);
      // As the real client does: a page the run recognises by its digest comes without decoded records.
      const recognised = options?.recognise?.(digest);
      if (recognised) {
        recognisedPages += 1;
        return {
          meta,
          digest,
          requestId: undefined,
          retries: 0,
          recognised,
          get data(): unknown[] {
            decodedRecognised += 1;
            return data;
          },
        };
      }
      return { meta, data, digest, requestId: undefined, retries: 0 };
    },
    // A lookup answers as the list stands now: an account it no longer holds is gone.
    async getAccount(id: string): Promise<AccountLookup> {
      const record = list.find((a) => a.id === id);
      return record ? { found: true, record, requestId: undefined } : { found: false, requestId: undefined };
    },
  };
  return { client, removed, fired: () => fired };
}

async function sync(client: UpvestClient, pageSize: number, concurrency: number, skipUnchangedPages: boolean) {
  return runSync(
    { prisma, client, logger: silentLogger() },
    { pageSize, concurrency, maxPages: 1_000, mode: 'full', skipUnchangedPages },
  );
}

async function stateOf(ids: string[]): Promise<Map<string, boolean>> {
  const rows = await prisma.$queryRaw<Array<{ id: string; deleted: boolean }>>`
    SELECT id::text, deleted_at IS NOT NULL AS deleted FROM accounts WHERE id = ANY(${ids}::uuid[])`;
  return new Map(rows.map((r) => [r.id, r.deleted]));
}

describe('a full run against a server that moves, shrinks, repeats and lies', () => {
  it('never marks an account deleted that was listed throughout, and judges its walk rightly', async () => {
    let iteration = 0;
    const seen = { misbehaved: 0, consistent: 0, inconsistent: 0, deletions: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 60 }),
        fc.integer({ min: 3, max: 9 }),
        fc.integer({ min: 1, max: 3 }),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(25), action), { maxLength: 4 }),
        async (size, pageSize, concurrency, skipUnchangedPages, scripted) => {
          iteration += 1;
          const list = Array.from({ length: size }, () => account(iteration));
          const initial = list.map((a) => String(a.id));
          const stable = await sync(server(list, iteration).client, pageSize, concurrency, skipUnchangedPages);
          expect(stable).toMatchObject({ status: 'succeeded', walkComplete: true, walkConsistent: true, accountsSeen: size });

          const script = new Map<number, Action[]>();
          for (const [at, a] of scripted) script.set(at, [...(script.get(at) ?? []), a]);
          const hostile = server(list, iteration, script);
          const run = await sync(hostile.client, pageSize, concurrency, skipUnchangedPages);
          const throughout = initial.filter((id) => !hostile.removed.has(id));
          const state = await stateOf(initial);
          // Never a wrong deletion, whatever the verdict.
          expect(throughout.filter((id) => state.get(id) !== false)).toEqual([]);
          if (hostile.fired() > 0) seen.misbehaved += 1;
          if (run.status === 'succeeded' && run.walkConsistent) {
            seen.consistent += 1;
            // A consistent walk listed everything: what it marked deleted is exactly what left.
            const deleted = initial.filter((id) => state.get(id) === true);
            expect(deleted.sort()).toEqual(initial.filter((id) => hostile.removed.has(id)).sort());
          } else {
            seen.inconsistent += 1;
            // An inconsistent walk marks only what a lookup found gone, and says deletions may be incomplete.
            expect(initial.filter((id) => state.get(id) === true && !hostile.removed.has(id))).toEqual([]);
            if (run.status === 'succeeded' && run.walkComplete) expect(run.deletionsComplete).toBe(false);
          }
          if (hostile.fired() === 0) expect(run).toMatchObject({ status: 'succeeded', walkConsistent: true, deletions: 0 });

          // Behaving again, the next run catches up exactly.
          const after = await sync(server(list, iteration).client, pageSize, concurrency, skipUnchangedPages);
          expect(after).toMatchObject({ status: 'succeeded', walkConsistent: true });
          const final = await stateOf(initial);
          expect(initial.filter((id) => final.get(id) !== hostile.removed.has(id))).toEqual([]);
          seen.deletions += run.deletions + after.deletions;
          const live = await stateOf(list.map((a) => String(a.id)));
          expect([...live.values()].filter((deleted) => deleted)).toEqual([]);
          expect(live.size).toBe(list.length);
        },
      ),
      { seed: 20_261_131, numRuns: 40, endOnFailure: true },
    );
    // The runs exercised both verdicts, and deletions.
    expect(seen.misbehaved).toBeGreaterThan(10);
    expect(seen.consistent).toBeGreaterThan(5);
    expect(seen.inconsistent).toBeGreaterThan(5);
    expect(seen.deletions).toBeGreaterThan(5);
    // Pages served as the last full run wrote them were recorded without decoding them.
    expect(recognisedPages).toBeGreaterThan(40);
    expect(decodedRecognised).toBe(0);
  });
});
