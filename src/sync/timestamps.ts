// Upvest's timestamps compared at full precision. RFC 3339 allows any number of fraction
// digits and PostgreSQL keeps microseconds; Date.parse keeps milliseconds only.
const RFC3339 = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/** Microseconds since the epoch, or undefined for a value that is not RFC 3339. */
export function toMicros(value: string): bigint | undefined {
  const match = RFC3339.exec(value);
  if (!match) return undefined;
  const seconds = Date.parse(`${match[1]!.replace(/[t ]/, 'T')}${match[3]!.toUpperCase()}`);
  if (Number.isNaN(seconds)) return undefined;
  const fraction = (match[2] ?? '').slice(0, 6).padEnd(6, '0');
  return BigInt(seconds) * 1000n + BigInt(fraction);
}
