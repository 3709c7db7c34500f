import { describe, expect, it } from 'vitest';
import { recordsDigest } from '../../src/sync/page-writer.js';

const records = [{ id: 'a', name: 'Zoë' }, { id: 'b', name: 'O\'Brien "Growth"' }];
const body = (meta: object, data: unknown[] = records) => JSON.stringify({ meta, data });

describe('page fingerprints', () => {
  it('depend on the records only, not on the total that changes with every added account', () => {
    const before = recordsDigest({ body: body({ offset: 0, limit: 2, count: 2, total_count: 10 }), data: records });
    const after = recordsDigest({ body: body({ offset: 0, limit: 2, count: 2, total_count: 11 }), data: records });
    expect(after).toBe(before);
  });

  it('change with any byte of any record', () => {
    const changed = [records[0], { ...records[1], name: 'O\'Brien "Growth" ' }];
    expect(recordsDigest({ body: body({ total_count: 10 }, changed), data: changed })).not.toBe(
      recordsDigest({ body: body({ total_count: 10 }), data: records }),
    );
  });

  it('fall back to the records themselves when the body does not put meta first', () => {
    const dataFirst = JSON.stringify({ data: records, meta: { total_count: 10 } });
    const digest = recordsDigest({ body: dataFirst, data: records });
    expect(digest).toBe(recordsDigest({ body: JSON.stringify({ data: records, meta: { total_count: 99 } }), data: records }));
    expect(digest).not.toBe(recordsDigest({ body: dataFirst, data: [records[0]] }));
  });
});
