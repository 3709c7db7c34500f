// A digest of a page's records exactly as served, for recognising a page served again as it
// was (sync_page_fingerprints). Taken of the bytes, before they are decoded.
import { createHash } from 'node:crypto';

const DATA = Buffer.from('"data"');

/** A body laid out as Upvest serves it: the members before "data" (meta), then the records. */
export interface ServedRecords {
  /** The members before "data", parsed on their own. */
  head: Record<string, unknown>;
  /**
   * SHA-256 of the raw bytes from "data": on, which hold the whole data array and nothing of
   * meta's total_count (that changes with every account added anywhere). Because the text
   * before them is a complete set of top-level members, the same bytes after any such text are
   * the same records.
   */
  digest: string;
}

/**
 * The body's head and records' digest when "data" follows the other members at the top level,
 * found without decoding the records: the text before the first `"data"` must be an object's
 * opening members (it parses once closed). Anything else (data first, a "data" inside meta) is
 * undefined.
 */
export function servedRecords(bytes: Buffer): ServedRecords | undefined {
  const dataStart = bytes.indexOf(DATA);
  if (dataStart < 0) return undefined;
  const text = bytes.toString('utf8', 0, dataStart).trimEnd();
  if (!text.startsWith('{') || !text.endsWith(',')) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(`${text.slice(0, -1)}}`);
  } catch {
    return undefined;
  }
  if (head === null || typeof head !== 'object' || Array.isArray(head)) return undefined;
  return { head: head as Record<string, unknown>, digest: createHash('sha256').update(bytes.subarray(dataStart)).digest('base64') };
}

/** For any other layout: the records serialised again. */
export function serialisedRecordsDigest(data: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('base64');
}

/** The digest of a page's records, as the client takes it: of the raw bytes when the layout is usual, else of the records serialised again. */
export function recordsDigest(bytes: Buffer, data: unknown[]): string {
  return servedRecords(bytes)?.digest ?? serialisedRecordsDigest(data);
}
