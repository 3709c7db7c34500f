// The validation fast path decides exactly as the schema does: property-based, over records
// near the boundaries of every rule (and far from them). The account it returns is compared
// with one built here from the schema's parse, not with checkAccount (which returns the fast
// path's own answer, and so could never disagree with it).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acceptedAccount, accountSchema, checkAccount, type AccountRecord } from '../../src/upvest/schema.js';
import { assertProperty } from '../support/property.js';

const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`));
const uuid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12)).map((parts) => parts.join('-'));
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constantFrom('', 'ACTIVE', 'a\u0000b', 'x\ud800', '\udc00y', '😀', 'e\u0301', 'S'.repeat(100), 'S'.repeat(101), 'n'.repeat(1000), 'n'.repeat(1001)),
);
const anyDate = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true });
const timestamp = fc.oneof(
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '2024-01-01T00:00:00Z',
      '2024-02-29T23:59:59.123456789Z',
      '2024-01-01T00:00:00+15:59',
      '2024-01-01T00:00:00-16:00',
      '2023-02-29T00:00:00Z',
      '2024-01-01T00:00:00.1234567890Z',
      'yesterday',
      '',
    ),
  },
  { weight: 3, arbitrary: anyDate.map((d) => d.toISOString()) },
);
const value = (good: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 40, arbitrary: good }, { weight: 1, arbitrary: fc.anything() }, { weight: 1, arbitrary: anyText });
const user = fc.record({ id: value(uuid), type: value(fc.constantFrom('OWNER', 'GUARDIAN')) });
const record = fc.record(
  {
    id: value(uuid),
    created_at: value(timestamp),
    updated_at: value(timestamp),
    account_group_id: value(uuid),
    type: value(fc.constantFrom('TRADING', 'PORTFOLIO')),
    users: value(fc.array(value(user), { maxLength: 3 })),
    name: value(fc.oneof({ weight: 4, arbitrary: fc.string({ unit: 'grapheme', maxLength: 30 }) }, { weight: 1, arbitrary: anyText })),
    status: value(fc.constantFrom('ACTIVE', 'LOCKED')),
    account_number: value(fc.oneof(fc.integer({ min: -2, max: 5 }), fc.constantFrom(1.5, 2 ** 53, 2 ** 53 - 1, Number.NaN, 1e308))),
    extra: fc.anything(),
  },
  { requiredKeys: ['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number'] },
);

/**
 * The account a record the schema accepted stands for, as the mirror keys it: ids lower case,
 * one link per user (the last type given wins), everything else as served.
 */
function expectedAccount(valid: ReturnType<typeof accountSchema.parse>): AccountRecord {
  const users = new Map<string, { type: string; extra: string | null }>();
  for (const user of valid.users) users.set(user.id.toLowerCase(), { type: user.type, extra: unknownOf(user, ['id', 'type']) });
  return {
    id: valid.id.toLowerCase(),
    accountGroupId: valid.account_group_id.toLowerCase(),
    type: valid.type,
    name: valid.name,
    status: valid.status,
    accountNumber: valid.account_number,
    createdAt: valid.created_at,
    updatedAt: valid.updated_at,
    extra: unknownOf(valid, ['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number']),
    users: [...users].map(([id, user]) => ({ id, ...user })),
  };
}

/** The fields of `record` that are not `known`, as JSON text, or null: what the mirror keeps in extra. */
function unknownOf(record: object, known: string[]): string | null {
  const unknown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) {
    if (!known.includes(key)) Object.defineProperty(unknown, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return Object.keys(unknown).length === 0 ? null : JSON.stringify(unknown);
}

describe('the validation fast path', () => {
  it('accepts exactly the records the schema accepts, as the account the schema parsed', () => {
    let accepted = 0;
    const seed = assertProperty(
      fc.property(fc.oneof({ weight: 9, arbitrary: record }, { weight: 1, arbitrary: fc.anything() }), (raw) => {
        const fast = acceptedAccount(raw);
        const schema = accountSchema.safeParse(raw);
        expect(fast !== undefined).toBe(schema.success);
        const checked = checkAccount(raw);
        if (schema.success) {
          accepted += 1;
          expect(fast).toEqual(expectedAccount(schema.data));
          expect(checked).toEqual({ ok: true, account: expectedAccount(schema.data) });
        } else {
          expect(checked).toMatchObject({ ok: false, rejected: { raw, reason: expect.stringMatching(/\S/) } });
        }
      }),
      3000,
    );
    // Both sides of the boundary were explored.
    // About a tenth of 3000 are accepted (315 on average, 17 either way): 150 is far below any seed's count.
    expect(accepted, `FC_SEED=${seed}`).toBeGreaterThan(150);
    expect(accepted, `FC_SEED=${seed}`).toBeLessThan(2700);
  });
});
