// The clock that stamps the dataset's changes.
import { hash32 } from './hash.js';

const D_CLOCK = 51;

/**
 * The dataset's clock in microseconds, strictly increasing across calls and newer than every
 * base account. The sub-millisecond part is hashed so that timestamps carry real microseconds.
 */
export class DatasetClock {
  private ticks = 0;

  constructor(
    private readonly seed: number,
    private readonly now: () => number,
    private lastUs: number,
  ) {}

  tick(): number {
    const micros = hash32(this.seed, D_CLOCK, this.ticks++) % 1000;
    this.lastUs = Math.max(Math.floor(this.now()) * 1000 + micros, this.lastUs + 1);
    return this.lastUs;
  }

  /** A whole millisecond after every instant given so far, for what changes no updated_at. */
  mark(): number {
    this.lastUs = Math.max(Math.floor(this.now()) * 1000, this.lastUs + 1);
    return this.lastUs;
  }
}
