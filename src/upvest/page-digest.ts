// A digest of a page's records exactly as served, for recognising a page served again as it
// was (sync_page_fingerprints). Taken of the bytes, before they are decoded.
import { createHash } from 'node:crypto';

const META = Buffer.from('"meta"');
const DATA = Buffer.from('"data"');

/**
 * With the usual layout (meta first), the raw bytes from "data": on, which hold the whole data
 * array and nothing of meta's total_count (that changes with every account added anywhere);
 * otherwise the records serialised again. Either way equal digests mean equal records.
 */
export function recordsDigest(bytes: Buffer, data: unknown[]): string {
  const hash = createHash('sha256');
  const meta = bytes.indexOf(META);
  const start = bytes.indexOf(DATA);
  if (meta >= 0 && start > meta) hash.update(bytes.subarray(start));
  else hash.update(JSON.stringify(data));
  return hash.digest('base64');
}
