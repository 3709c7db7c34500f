// Upstream changes: a batch between runs, and a trickle while a run walks (status changes,
// renames, new owners, new and removed accounts, removed ones coming back), all drawn from the
// soak's seeded generator.
import type { Dataset } from '../src/simulator/index.js';
import type { Prng } from '../src/simulator/hash.js';

export class Changes {
  private removed: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dataset: Dataset,
    private readonly prng: Prng,
  ) {}

  /** A batch between runs. */
  between(): void {
    const r = () => this.prng.int(1 << 30);
    const log = this.dataset.applyRandomChanges({
      seed: r(),
      statusChanges: 5 + this.prng.int(40),
      renames: this.prng.int(8),
      userChanges: this.prng.int(6),
      additions: this.prng.int(6),
      removals: this.prng.int(4),
    });
    this.removed.push(...log.removed);
    // Now and then an account Upvest stopped listing is listed again, unchanged.
    if (this.removed.length > 0 && this.prng.next() < 0.3) {
      const [back] = this.removed.splice(this.prng.int(this.removed.length), 1);
      this.dataset.restore(back!);
    }
  }

  /**
   * Small changes every 100 to 600 ms until stop(). With `moving`, also accounts added and
   * removed, which shift the pages under a full walk (its walk is then inconsistent).
   */
  during(moving: boolean): void {
    this.stop();
    const tick = () => {
      const log = this.dataset.applyRandomChanges({
        seed: this.prng.int(1 << 30),
        statusChanges: 1 + this.prng.int(3),
        renames: this.prng.int(2),
        userChanges: this.prng.next() < 0.2 ? 1 : 0,
        additions: moving && this.prng.next() < 0.2 ? 1 : 0,
        removals: moving && this.prng.next() < 0.15 ? 1 : 0,
      });
      this.removed.push(...log.removed);
      this.timer = setTimeout(tick, 100 + this.prng.int(500));
    };
    this.timer = setTimeout(tick, this.prng.int(300));
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
