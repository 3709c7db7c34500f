// Pages generated at the level of JSON text, not of values, served as bytes by the simulator to
// the real got-based client and decided by checkPage: number literals past every limit and
// spelled every way JSON allows, keys given twice (the last one counts, as in any ECMAScript
// JSON reader), extra members nested thousands deep, escaped lone and paired surrogates. What
// each record must come out as is decided here, from the generator's own values (Number() of
// a literal, String.prototype.isWellFormed), not by the code under test.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSections } from '../../src/config/index.js';
import { silentLogger } from '../../src/logger.js';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { checkPage } from '../../src/sync/page-check.js';
import { createUpvestClientFromConfig } from '../../src/upvest/index.js';
import type { AccountRecord } from '../../src/upvest/schema.js';
import { validRecord, type Served } from '../support/arbitraries.js';
import { assertAsyncProperty } from '../support/property.js';

const PAGE = 8;
let sim: Simulator;
let keyDir: string;
let client: ReturnType<typeof createUpvestClientFromConfig>;

beforeAll(async () => {
  sim = await startSimulator({ accounts: PAGE, seed: 24 });
  keyDir = mkdtempSync(join(tmpdir(), 'hostile-json-'));
  writeFileSync(join(keyDir, 'key.pem'), sim.privateKeyPem ?? '', { mode: 0o600 });
  const { upvest } = loadSections(
    {
      UPVEST_BASE_URL: sim.url,
      UPVEST_CLIENT_ID: sim.clientId,
      UPVEST_CLIENT_SECRET: sim.clientSecret,
      UPVEST_SIGNING_KEY_FILE: join(keyDir, 'key.pem'),
      UPVEST_SIGNING_KEY_ID: sim.keyId,
      UPVEST_RETRIES: '0',
    },
    ['upvest'],
  );
  client = createUpvestClientFromConfig(upvest, { logger: silentLogger() });
});
afterAll(async () => {
  await sim?.close();
  if (keyDir) rmSync(keyDir, { recursive: true, force: true });
});

/** A number literal as JSON spells it, and the number any JSON reader makes of it. */
const numberLiteral: fc.Arbitrary<{ text: string; value: number }> = fc
  .oneof(
    // Safe integers, spelled as integers, with a fraction of zeros, with exponents.
    fc.tuple(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('', '.0', '.000', 'e0', 'E+0', '.0e-0')).map(([n, tail]) => `${n}${tail}`),
    fc.integer({ min: 1, max: 99_999 }).map((n) => `${n}0e-1`),
    // Past the safe range, past a double's range, below one, negative, fractional.
    fc.stringMatching(/^[1-9][0-9]{15,60}$/),
    fc.tuple(fc.integer({ min: 1, max: 9 }), fc.integer({ min: -400, max: 400 })).map(([d, e]) => `${d}e${e}`),
    fc.constantFrom('0', '-0', '-1', '1.5', '9007199254740991', '9007199254740992', '9007199254740993', '1.0000000000000000001', '2.9999999999999999999'),
  )
  .map((text) => ({ text, value: Number(text) }));

/** A JSON string literal built from escapes and characters, and the string it stands for. */
const PIECES: Array<[string, string]> = [
  ['a', 'a'],
  [' ', ' '],
  ['\\ud800', '\ud800'],
  ['\\udbff', '\udbff'],
  ['\\udc00', '\udc00'],
  ['\\uDFFF', '\udfff'],
  ['\\ud83d\\ude00', '😀'],
  ['😀', '😀'],
  ['\\u00e9', 'é'],
  ['\\"', '"'],
  ['\\\\', '\\'],
  ['\\/', '/'],
  ['\\n', '\n'],
];
const stringLiteral: fc.Arbitrary<{ text: string; value: string }> = fc
  .array(fc.constantFrom(...PIECES), { maxLength: 8 })
  .map((pieces) => ({ text: `"${pieces.map(([t]) => t).join('')}"`, value: pieces.map(([, v]) => v).join('') }));

/** No lone surrogate (String.prototype.isWellFormed, Node 20; the compiler's lib predates it). */
const wellFormed = (text: string) => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Nested arrays and objects `depth` deep around a value. */
function nested(depth: number, objects: boolean): string {
  return objects ? `${'{"n":'.repeat(depth)}0${'}'.repeat(depth)}` : `${'['.repeat(depth)}0${']'.repeat(depth)}`;
}

interface HostileRecord {
  text: string;
  /** The account it must be read as; undefined when it must be kept aside. */
  expected: AccountRecord | undefined;
  /** The fields it must be kept aside for, in the schema's order. */
  rejectedFor: string[];
  /** The hostilities it holds, for counting what the runs exercised. */
  kinds: string[];
}

const hostileRecord: fc.Arbitrary<HostileRecord> = fc
  .record({
    base: validRecord(fc.uuid()),
    number: numberLiteral,
    name: stringLiteral,
    decoys: fc.subarray(['id', 'status', 'name', 'account_number', 'users', 'created_at']),
    decoy: fc.jsonValue({ maxDepth: 2 }),
    depth: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1_000, max: 20_000 })),
    objects: fc.boolean(),
  })
  .map(({ base, number, name, decoys, decoy, depth, objects }) => {
    const members: string[] = [];
    for (const [key, value] of Object.entries(base)) {
      // A key given twice: a decoy first, the value that counts last.
      if (decoys.includes(key)) members.push(`${JSON.stringify(key)}:${JSON.stringify(decoy)}`);
      const text = key === 'account_number' ? number.text : key === 'name' ? name.text : JSON.stringify(value);
      members.push(`${JSON.stringify(key)}:${text}`);
    }
    if (depth > 0) members.push(`"nested_extra":${nested(depth, objects)}`);
    // Unknown fields are kept (extra) to SYNC_EXTRA_MAX_DEPTH (8: their object is depth 1).
    const tooDeep = 1 + depth > EXTRA_MAX_DEPTH;
    const rejectedFor = [
      ...(wellFormed(name.value) ? [] : ['name']),
      ...(Number.isSafeInteger(number.value) && number.value >= 1 ? [] : ['account_number']),
    ];
    // Named when it is the only reason (a record already refused need not list it).
    if (tooDeep && rejectedFor.length === 0) rejectedFor.push('record has unknown fields nested deeper than 8');
    const kinds = [
      ...(number.text.length > 16 || !Number.isFinite(number.value) || /e[1-9]/.test(number.text) ? ['huge'] : []),
      ...(decoys.length > 0 ? ['duplicates'] : []),
      ...(depth >= 1_000 ? ['deep'] : []),
      ...(wellFormed(name.value) ? [] : ['lone']),
    ];
    const unknown: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(base)) {
      if (!KNOWN_FIELDS.includes(key)) Object.defineProperty(unknown, key, { value, enumerable: true, writable: true, configurable: true });
    }
    if (depth > 0 && !tooDeep) unknown.nested_extra = JSON.parse(nested(depth, objects));
    const extra = Object.keys(unknown).length === 0 ? null : JSON.stringify(unknown);
    const expected = rejectedFor.length === 0 ? accountOf(base, name.value, number.value, extra) : undefined;
    return { text: `{${members.join(',')}}`, expected, rejectedFor, kinds };
  });

/** What a valid record stands for in the mirror: ids lower case, one link per user (the last type given). */
function accountOf(base: Served, name: string, accountNumber: number, extra: string | null): AccountRecord {
  const users = new Map<string, string>();
  for (const user of base.users as Array<{ id: string; type: string }>) users.set(user.id.toLowerCase(), user.type);
  return {
    id: String(base.id).toLowerCase(),
    accountGroupId: String(base.account_group_id).toLowerCase(),
    type: String(base.type),
    name,
    status: String(base.status),
    accountNumber,
    createdAt: String(base.created_at),
    updatedAt: String(base.updated_at),
    extra,
    users: [...users].map(([id, type]) => ({ id, type, extra: null })),
  };
}

const KNOWN_FIELDS = ['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number'];
const EXTRA_MAX_DEPTH = 8;

describe('pages of hostile JSON, as bytes through the real client', () => {
  it('reads every record as a JSON reader does, keeps exactly the valid ones, and keeps the others aside for the right field', async () => {
    const seen = { huge: 0, duplicates: 0, deep: 0, lone: 0, accepted: 0, rejected: 0 };
    const seed = await assertAsyncProperty(
      fc.asyncProperty(fc.array(hostileRecord, { minLength: 1, maxLength: PAGE }), async (records) => {
        const accounts = sim.dataset.list();
        records.forEach((record, i) => sim.dataset.serveRaw(accounts[i]!.id, record.text));
        const page = await client.listAccounts({ offset: 0, limit: records.length, sort: 'created_at', order: 'ASC' });
        expect(page.data).toHaveLength(records.length);
        const checked = checkPage(page.data);
        expect(checked.accounts).toEqual(records.flatMap((r) => (r.expected ? [r.expected] : [])));
        expect(checked.rejected.map((r) => r.reason)).toEqual(
          records.filter((r) => !r.expected).map((r) => expect.stringMatching(new RegExp(`^${r.rejectedFor.join('.*; ')}`))),
        );
        for (const record of records) {
          for (const kind of record.kinds) seen[kind as keyof typeof seen] += 1;
          seen[record.expected ? 'accepted' : 'rejected'] += 1;
        }
      }),
      60,
    );
    // Every kind of hostility was served, and both outcomes seen.
    for (const [kind, count] of Object.entries(seen)) expect(count, `${kind}, FC_SEED=${seed}`).toBeGreaterThan(5);
  });
});
