// The fields of an account or user record the schema does not know: Upvest may add fields
// (its versioning rules), and they are kept as JSON in `extra` once they are JSON PostgreSQL's
// jsonb stores, within bounds.

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text PostgreSQL can store: no NUL (text refuses it) and no unpaired UTF-16 surrogate (not encodable as UTF-8). */
export function textProblem(value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character';
  if (UNPAIRED_SURROGATE.test(value)) return 'contains an unpaired UTF-16 surrogate';
  return undefined;
}

/**
 * Bounds on the fields the schema does not know (kept as JSON in `extra`), per account and per
 * user: bytes of their JSON text, and how deeply it nests (the object of the fields is depth 1).
 * SYNC_EXTRA_MAX_BYTES and SYNC_EXTRA_MAX_DEPTH set them; these are the defaults.
 */
export interface ExtraLimits {
  bytes: number;
  depth: number;
}
export const DEFAULT_EXTRA_LIMITS: ExtraLimits = { bytes: 16_384, depth: 8 };

export const ACCOUNT_FIELDS: ReadonlySet<string> = new Set(['id', 'created_at', 'updated_at', 'account_group_id', 'type', 'users', 'name', 'status', 'account_number']);
export const USER_FIELDS: ReadonlySet<string> = new Set(['id', 'type']);

/**
 * The fields of `raw` not in `known`, or null when there are none. Only called on records that
 * hold every known field (they are all required), so as many keys as known fields means none
 * other: the common case costs one count.
 */
export function unknownFieldsOf(raw: Record<string, unknown>, known: ReadonlySet<string>): Record<string, unknown> | null {
  if (Object.keys(raw).length === known.size) return null;
  let extra: Record<string, unknown> | null = null;
  for (const key of Object.keys(raw)) {
    if (known.has(key)) continue;
    extra ??= {};
    // defineProperty: a field named __proto__ is a field like any other.
    Object.defineProperty(extra, key, { value: raw[key], enumerable: true, writable: true, configurable: true });
  }
  return extra;
}

/**
 * Why unknown fields cannot be kept as they are, or undefined: they must be JSON PostgreSQL's
 * jsonb stores (text without NUL or unpaired surrogates, finite numbers) within the limits.
 */
export function extraProblem(extra: Record<string, unknown> | null, limits: ExtraLimits): string | undefined {
  if (extra === null) return undefined;
  const problem = jsonProblem(extra, 1, limits.depth);
  if (problem) return problem;
  const bytes = Buffer.byteLength(JSON.stringify(extra), 'utf8');
  return bytes > limits.bytes ? `has unknown fields of ${bytes} bytes as JSON, more than ${limits.bytes}` : undefined;
}

function jsonProblem(value: unknown, depth: number, maxDepth: number): string | undefined {
  if (value === null || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : 'has an unknown field holding a number JSON cannot write';
  if (typeof value === 'string') return textProblem(value) === undefined ? undefined : `has an unknown field that ${textProblem(value)}`;
  if (typeof value !== 'object') return 'has an unknown field that is not JSON';
  if (depth > maxDepth) return `has unknown fields nested deeper than ${maxDepth}`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = i in value ? jsonProblem(value[i], depth + 1, maxDepth) : 'has an unknown field that is not JSON';
      if (problem) return problem;
    }
    return undefined;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return 'has an unknown field that is not JSON';
  for (const key of Object.keys(value)) {
    if (textProblem(key) !== undefined) return `has an unknown field whose name ${textProblem(key)}`;
    const problem = jsonProblem((value as Record<string, unknown>)[key], depth + 1, maxDepth);
    if (problem) return problem;
  }
  return undefined;
}

/** JSON text of the unknown fields (checked by extraProblem), or null. */
export const extraJsonOf = (extra: Record<string, unknown> | null): string | null => (extra === null ? null : JSON.stringify(extra));
