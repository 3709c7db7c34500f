// Requests held at the door until a test lets them through: a test waits for "the third page
// request has arrived" and decides when it is answered, instead of slowing every request down
// and hoping the moment it wants falls inside the delay.

/** '/accounts', '*' for any path, or a prefix ending in '/*' (as for faults). */
export type HoldPath = string;

export interface HoldOptions {
  /** Matching requests let through before the hold closes (default 0: the first is held). */
  after?: number;
}

export class Hold {
  private passed = 0;
  private released = false;
  private readonly waiting: Array<() => void> = [];
  private readonly watchers: Array<{ count: number; resolve: () => void }> = [];

  constructor(
    readonly path: HoldPath,
    private readonly letThrough: number,
  ) {}

  /** Requests waiting at this hold now. */
  get held(): number {
    return this.waiting.length;
  }

  /** Resolves once `count` requests are waiting at the hold (at once). */
  arrived(count = 1): Promise<void> {
    if (this.waiting.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.watchers.push({ count, resolve }));
  }

  /** Lets every waiting request and every later one through. */
  release(): void {
    this.released = true;
    for (const go of this.waiting.splice(0)) go();
  }

  /** Lets `count` waiting requests through (the oldest first); the hold stays closed. */
  releaseSome(count: number): void {
    for (const go of this.waiting.splice(0, count)) go();
  }

  /** Called by the server for a request on a matching path; settles when it may go on. */
  pass(): Promise<void> {
    if (this.released || this.passed++ < this.letThrough) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      for (const watcher of this.watchers.filter((w) => this.waiting.length >= w.count)) {
        this.watchers.splice(this.watchers.indexOf(watcher), 1);
        watcher.resolve();
      }
    });
  }
}
