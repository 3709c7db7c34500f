// Upvest's timestamps compared at full precision. RFC 3339 allows any number of fraction
// digits and PostgreSQL keeps microseconds; Date.parse keeps milliseconds only.
const RFC3339 = /^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Microseconds since the epoch as PostgreSQL stores the value (so that two values compare as
 * their stored forms do), or undefined for a value that is not RFC 3339. PostgreSQL reads the
 * fraction as a double and rounds it to microseconds half to even (rint); so does this.
 */
export function toMicros(value: string): bigint | undefined {
  const match = RFC3339.exec(value);
  if (!match) return undefined;
  const millis = Date.parse(`${match[1]!.replace(/[t ]/, 'T')}${match[3]!.toUpperCase()}`);
  if (Number.isNaN(millis)) return undefined;
  const fraction = match[2] === undefined ? 0 : roundHalfEven(Number(`.${match[2]}`) * 1_000_000);
  return BigInt(millis) * 1000n + BigInt(fraction);
}

function roundHalfEven(x: number): number {
  const rounded = Math.round(x);
  return rounded - x === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}
