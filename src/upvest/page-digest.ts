// A digest of a page's records exactly as served, for recognising a page served again as it
// was (sync_page_fingerprints). Taken of the bytes, before they are decoded.
import { createHash } from 'node:crypto';

const DATA = Buffer.from('"data"');

/** A body laid out as Upvest serves it: the members before "data" (meta), then the records. */
export interface ServedLayout {
  /** The members before "data", parsed on their own. */
  head: Record<string, unknown>;
  /** Where the `"data"` member starts: everything from here on is the records (and what follows them). */
  dataStart: number;
}

/**
 * The body's layout when "data" follows the other members at the top level, found without
 * decoding the records: the text before the first `"data"` must be an object's opening members
 * (it parses once closed). Anything else (data first, a "data" inside meta) is undefined.
 */
export function servedLayout(bytes: Buffer): ServedLayout | undefined {
  const dataStart = bytes.indexOf(DATA);
  if (dataStart < 0) return undefined;
  const head = bytes.toString('utf8', 0, dataStart).trimEnd();
  if (!head.startsWith('{') || !head.endsWith(',')) return undefined;
  try {
    const parsed: unknown = JSON.parse(`${head.slice(0, -1)}}`);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? { head: parsed as Record<string, unknown>, dataStart } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * With the usual layout, the raw bytes from "data": on, which hold the whole data array and
 * nothing of meta's total_count (that changes with every account added anywhere). Because the
 * text before them was a complete set of top-level members, the same bytes after any such
 * text are the same records.
 */
export function rawRecordsDigest(bytes: Buffer, layout: ServedLayout): string {
  return createHash('sha256').update(bytes.subarray(layout.dataStart)).digest('base64');
}

/** For any other layout: the records serialised again. */
export function serialisedRecordsDigest(data: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(data)).digest('base64');
}

/** The digest of a page's records: of the raw bytes when the layout is usual, else of the records serialised again. */
export function recordsDigest(bytes: Buffer, data: unknown[]): string {
  const layout = servedLayout(bytes);
  return layout ? rawRecordsDigest(bytes, layout) : serialisedRecordsDigest(data);
}
