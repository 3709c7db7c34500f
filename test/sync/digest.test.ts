import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { recordsDigest, serialisedRecordsDigest, servedRecords } from '../../src/upvest/page-digest.js';

const records = [{ id: 'a', name: 'Zoë' }, { id: 'b', name: 'O\'Brien "Growth"' }];
const body = (meta: object, data: unknown[] = records) => Buffer.from(JSON.stringify({ meta, data }));

describe('page fingerprints', () => {
  it('depend on the records only, not on the total that changes with every added account', () => {
    const before = recordsDigest(body({ offset: 0, limit: 2, count: 2, total_count: 10 }), records);
    const after = recordsDigest(body({ offset: 0, limit: 2, count: 2, total_count: 11 }), records);
    expect(after).toBe(before);
  });

  it('change with any byte of any record', () => {
    const changed = [records[0], { ...records[1], name: 'O\'Brien "Growth" ' }];
    expect(recordsDigest(body({ total_count: 10 }, changed), changed)).not.toBe(
      recordsDigest(body({ total_count: 10 }), records),
    );
  });

  it('fall back to the records themselves when the body does not put meta first', () => {
    const dataFirst = Buffer.from(JSON.stringify({ data: records, meta: { total_count: 10 } }));
    const digest = recordsDigest(dataFirst, records);
    expect(digest).toBe(recordsDigest(Buffer.from(JSON.stringify({ data: records, meta: { total_count: 99 } })), records));
    expect(digest).not.toBe(recordsDigest(dataFirst, [records[0]]));
  });

  it('are of the raw bytes only when "data" follows complete top-level members', () => {
    const usual = body({ offset: 0, total_count: 10 });
    expect(servedRecords(usual)).toEqual({
      head: { meta: { offset: 0, total_count: 10 } },
      digest: createHash('sha256').update(usual.subarray(usual.indexOf('"data"'))).digest('base64'),
    });
    // A "data" inside meta is not where the records start: the records are serialised again.
    const nested = Buffer.from(JSON.stringify({ meta: { data: 1, total_count: 10 }, data: records }));
    expect(servedRecords(nested)).toBeUndefined();
    expect(recordsDigest(nested, records)).toBe(serialisedRecordsDigest(records));
    expect(recordsDigest(usual, records)).not.toBe(serialisedRecordsDigest(records));
  });
});
