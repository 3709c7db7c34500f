// Cheap deterministic randomness. The simulator derives every base account from (seed, index)
// instead of storing it, so these functions sit on the hot path of page rendering.

/** murmur3's 32-bit finaliser: good avalanche for the price of two multiplications. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/**
 * Hash of (seed, domain, n) to 32 bits. `domain` keeps the streams for different fields apart;
 * `n` may exceed 2^32 (indices of added accounts stay far below 2^48).
 */
export function hash32(seed: number, domain: number, n: number): number {
  let h = mix32((seed >>> 0) ^ Math.imul(domain + 1, 0x9e3779b1));
  h = mix32(h ^ (n >>> 0));
  return mix32(h ^ Math.floor(n / 0x1_0000_0000) ^ 0x5bd1e995);
}

/** mulberry32: a tiny seeded PRNG for choices that must repeat with the same seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = mix32(seed >>> 0 || 0x6d2b79f5);
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex8(w: number): string {
  return HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

function hex4(w: number): string {
  return HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

/**
 * A UUID v4-shaped string whose last 48 bits ("node") are given and the rest comes from
 * three hash words. Version nibble 4 and RFC 4122 variant bits are forced.
 */
export function formatUuid(a: number, b: number, c: number, node48: number): string {
  const nodeHigh = Math.floor(node48 / 0x1_0000_0000) & 0xffff;
  const nodeLow = node48 >>> 0;
  return (
    hex8(a) +
    '-' +
    hex4(b >>> 16) +
    '-' +
    hex4(0x4000 | (b & 0x0fff)) +
    '-' +
    hex4(0x8000 | (c & 0x3fff)) +
    '-' +
    hex4(nodeHigh) +
    hex8(nodeLow)
  );
}

const MASK24 = 0xffffff;

function feistelRound(seed: number, round: number, half: number): number {
  return hash32(seed, 900 + round, half) & MASK24;
}

/**
 * A keyed bijection on [0, 2^48). Account ids carry their index through it, so an id can be
 * mapped back to its index without a million-entry lookup table, yet ids still look random.
 */
export function permute48(seed: number, value: number): number {
  let left = Math.floor(value / 0x100_0000) & MASK24;
  let right = value & MASK24;
  for (let round = 0; round < 4; round++) {
    const next = left ^ feistelRound(seed, round, right);
    left = right;
    right = next;
  }
  return left * 0x100_0000 + right;
}

export function unpermute48(seed: number, value: number): number {
  let left = Math.floor(value / 0x100_0000) & MASK24;
  let right = value & MASK24;
  for (let round = 3; round >= 0; round--) {
    const previous = right ^ feistelRound(seed, round, left);
    right = left;
    left = previous;
  }
  return left * 0x100_0000 + right;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-([0-9a-f]{12})$/;

/** The 48-bit node of a lower-case UUID string, or undefined when it is not one. */
export function uuidNode(id: string): number | undefined {
  const match = UUID_RE.exec(id);
  return match ? Number.parseInt(match[1]!, 16) : undefined;
}
