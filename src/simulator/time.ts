// Timestamps are kept as integer microseconds since the epoch (exact in a double until 2255)
// because the real API serves microsecond fractions and the client must keep them.

const PAD2: string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

// Rendering a page formats two timestamps per account; consecutive accounts are nearly always
// on the same day, so the date part comes from a one-entry cache instead of Date.
let cachedDay = Number.NaN;
let cachedDate = '';

/**
 * RFC 3339 in UTC the way Go's RFC3339Nano prints it (Upvest's backend): trailing zeros of
 * the fraction are dropped, and whole seconds have no fraction at all.
 */
export function formatMicros(us: number): string {
  const fraction = ((us % 1_000_000) + 1_000_000) % 1_000_000;
  const seconds = (us - fraction) / 1_000_000;
  const day = Math.floor(seconds / 86_400);
  if (day !== cachedDay) {
    cachedDay = day;
    cachedDate = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  const inDay = seconds - day * 86_400;
  const head = `${cachedDate}${PAD2[Math.floor(inDay / 3600)]}:${PAD2[Math.floor(inDay / 60) % 60]}:${PAD2[inDay % 60]}`;
  if (fraction === 0) return `${head}Z`;
  let digits = fraction;
  let width = 6;
  while (digits % 10 === 0) {
    digits /= 10;
    width--;
  }
  return `${head}.${String(digits).padStart(width, '0')}Z`;
}
