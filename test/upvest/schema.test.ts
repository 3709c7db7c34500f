import { describe, expect, it } from 'vitest';
import { checkAccount, isRfc3339 } from '../../src/upvest/schema.js';
import { upvestShapeOf } from '../../src/mirror/mirror-writes.js';

const good = {
  id: 'A0C1B2D3-0000-4000-8000-000000000001',
  created_at: '2024-03-01T10:00:00.123456Z',
  updated_at: '2024-03-02T10:00:00+02:00',
  account_group_id: 'b0c1b2d3-0000-4000-8000-000000000001',
  type: 'TRADING',
  users: [
    { id: 'c0c1b2d3-0000-4000-8000-000000000001', type: 'OWNER' },
    { id: 'C0C1B2D3-0000-4000-8000-000000000001', type: 'OWNER' },
  ],
  name: 'Zoë "Growth" O\'Brien',
  status: 'ACTIVE',
  account_number: 3,
};

function reasonFor(patch: Record<string, unknown>): string {
  const result = checkAccount({ ...good, ...patch });
  if (result.ok) throw new Error('expected a rejection');
  return result.rejected.reason;
}

describe('account validation', () => {
  it('accepts a valid account, keeping timestamps as sent and folding ids and repeated users', () => {
    const result = checkAccount({ ...good, a_field_added_in_1_76: true });
    expect(result).toEqual({
      ok: true,
      account: {
        id: 'a0c1b2d3-0000-4000-8000-000000000001',
        accountGroupId: 'b0c1b2d3-0000-4000-8000-000000000001',
        type: 'TRADING',
        name: 'Zoë "Growth" O\'Brien',
        status: 'ACTIVE',
        accountNumber: 3,
        createdAt: '2024-03-01T10:00:00.123456Z',
        updatedAt: '2024-03-02T10:00:00+02:00',
        extra: '{"a_field_added_in_1_76":true}',
        users: [{ id: 'c0c1b2d3-0000-4000-8000-000000000001', type: 'OWNER', extra: null }],
      },
    });
  });

  it('tolerates statuses and types it does not know yet', () => {
    expect(checkAccount({ ...good, status: 'SUSPENDED', type: 'SAVINGS' }).ok).toBe(true);
  });

  it('says what is wrong with a bad record', () => {
    expect(reasonFor({ id: 'abc' })).toBe('id is not a UUID');
    expect(reasonFor({ name: undefined, status: 7 })).toBe('name is missing; status must be string');
    expect(reasonFor({ updated_at: '2024-02-30T00:00:00Z' })).toBe('updated_at is not an RFC 3339 date-time');
    expect(reasonFor({ account_number: 0 })).toBe('account_number is invalid: Too small: expected number to be >=1');
    expect(reasonFor({ name: 'a\u0000b' })).toBe('name contains a NUL character');
    expect(reasonFor({ users: [{ id: 'c0c1b2d3-0000-4000-8000-000000000001' }] })).toBe('users.0.type is missing');
    expect(reasonFor({ status: '' })).toBe('status is empty');
  });

  it('keeps the id of a rejected record when it is usable, so the account is not taken for deleted', () => {
    const result = checkAccount({ ...good, name: null });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.rejected.accountId).toBe('a0c1b2d3-0000-4000-8000-000000000001');
    const bare = checkAccount('not an object');
    expect(bare).toEqual({ ok: false, rejected: { accountId: null, raw: 'not an object', reason: 'record must be object' } });
  });

  it('reads RFC 3339 date-times strictly', () => {
    expect(isRfc3339('2024-02-29T23:59:59.999999999Z')).toBe(true);
    expect(isRfc3339('2023-02-29T00:00:00Z')).toBe(false);
    expect(isRfc3339('2024-01-01T24:00:00Z')).toBe(false);
    expect(isRfc3339('2024-01-01')).toBe(false);
    expect(isRfc3339('2024-01-01T00:00:00')).toBe(false);
  });
});

describe('what PostgreSQL can store decides what is valid', () => {
  it('refuses text with NUL or an unpaired surrogate, and accepts astral characters and combining marks', () => {
    expect(reasonFor({ name: 'lone \ud800 high' })).toBe('name contains an unpaired UTF-16 surrogate');
    expect(reasonFor({ name: 'lone \udc00 low' })).toBe('name contains an unpaired UTF-16 surrogate');
    expect(reasonFor({ status: 'A\u0000' })).toBe('status contains a NUL character');
    expect(reasonFor({ users: [{ id: 'c0c1b2d3-0000-4000-8000-000000000001', type: 'OW\ud83dNER' }] })).toBe(
      'users.0.type contains an unpaired UTF-16 surrogate',
    );
    expect(checkAccount({ ...good, name: 'Rocket 🚀 e\u0301\u0301 "quoted" back\\slash' }).ok).toBe(true);
  });

  it('bounds every field', () => {
    expect(checkAccount({ ...good, name: 'n'.repeat(1000) }).ok).toBe(true);
    expect(reasonFor({ name: 'n'.repeat(1001) })).toBe('name is longer than 1000 characters');
    expect(reasonFor({ status: 'S'.repeat(3000) })).toBe('status is longer than 100 characters');
    expect(reasonFor({ type: 'T'.repeat(101) })).toBe('type is longer than 100 characters');
    const users = Array.from({ length: 101 }, (_, i) => ({ id: `c0c1b2d3-0000-4000-8000-${String(i).padStart(12, '0')}`, type: 'OWNER' }));
    expect(reasonFor({ users })).toBe('users has more than 100 users');
    expect(reasonFor({ account_number: 2 ** 63 })).toBe('account_number is invalid: Too big: expected int to be <=9007199254740991');
    expect(reasonFor({ account_number: 1.5 })).toBe('account_number must be int');
  });

  it('accepts only timestamps PostgreSQL accepts: offsets up to 15:59, at most nine fraction digits', () => {
    expect(isRfc3339('2024-01-01T00:00:00+15:59')).toBe(true);
    expect(isRfc3339('2024-01-01T00:00:00-16:00')).toBe(false);
    expect(isRfc3339('2024-01-01T00:00:00+01:60')).toBe(false);
    expect(isRfc3339('2024-01-01T00:00:00.123456789Z')).toBe(true);
    expect(isRfc3339('2024-01-01T00:00:00.1234567890Z')).toBe(false);
    expect(isRfc3339('0000-01-01T00:00:00Z')).toBe(false);
  });

  it('keeps no id that is not a UUID', () => {
    const result = checkAccount({ ...good, id: 'ORDER-42', name: 7 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.rejected.accountId).toBeNull();
  });
});

describe('fields the schema does not know (issue 25)', () => {
  const user = { id: 'c0c1b2d3-0000-4000-8000-000000000001', type: 'GUARDIAN' };

  it("keeps an account's and a user's unknown fields as JSON, null when there are none, and gives them back as sent", () => {
    const raw = { ...good, users: [{ ...user, birth_year: 1990 }], tax: { residency: ['DE', 'FR'], since: null } };
    const result = checkAccount(raw);
    if (!result.ok) throw new Error(result.rejected.reason);
    expect(result.account.extra).toBe('{"tax":{"residency":["DE","FR"],"since":null}}');
    expect(result.account.users).toEqual([{ ...user, extra: '{"birth_year":1990}' }]);
    expect(upvestShapeOf(result.account)).toEqual({ ...raw, id: raw.id.toLowerCase() });
    const plain = checkAccount({ ...good, users: [user] });
    expect(plain.ok && plain.account.extra).toBeNull();
  });

  it('keeps a record aside when its unknown fields are too large, too deep or not storable', () => {
    expect(reasonFor({ blob: 'x'.repeat(16_384) })).toBe('record has unknown fields of 16395 bytes as JSON, more than 16384');
    // The object of the unknown fields is depth 1, deep 2, ... h 9.
    expect(reasonFor({ deep: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } })).toBe('record has unknown fields nested deeper than 8');
    expect(checkAccount({ ...good, deep: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } }).ok).toBe(true);
    expect(reasonFor({ note: 'a\u0000b' })).toBe('record has an unknown field that contains a NUL character');
    expect(reasonFor({ users: [{ ...user, nick: 'x\ud800' }] })).toBe('users.0 has an unknown field that contains an unpaired UTF-16 surrogate');
    const limits = { bytes: 20, depth: 2 };
    expect(checkAccount({ ...good, a: [1] }, limits).ok).toBe(true);
    const refused = checkAccount({ ...good, a: [[1]] }, limits);
    expect(refused.ok ? null : refused.rejected.reason).toBe('record has unknown fields nested deeper than 2');
  });
});
