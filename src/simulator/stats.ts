// Live counters that tests read to assert on client behaviour (retries, rates, concurrency).

export interface StatsEvent {
  /** Wall-clock milliseconds when the answer was sent. */
  at: number;
  path: string;
  /** 0 when the connection was reset instead of answered. */
  status: number;
}

export class SimulatorStats {
  requests = 0;
  byPath: Record<string, number> = {};
  byStatus: Record<number, number> = {};
  tokensIssued = 0;
  signatureRejections = 0;
  lastRejection: string | undefined;
  accountsServed = 0;
  pagesServed = 0;
  faultsInjected = 0;
  /** Injected faults by kind (see faultLabel), e.g. "429 with Retry-After", "reset". */
  faultsByKind: Record<string, number> = {};
  connections = 0;
  inFlight = 0;
  maxConcurrent = 0;
  private log: StatsEvent[] = [];

  constructor(readonly maxEvents = 10_000) {}

  /** The most recent answers, oldest first, at most maxEvents of them. */
  get events(): readonly StatsEvent[] {
    return this.log.length > this.maxEvents ? this.log.slice(-this.maxEvents) : this.log;
  }

  /** Answers sent at or after `sinceMs` (wall clock), optionally for one path. */
  countSince(sinceMs: number, path?: string): number {
    let n = 0;
    for (let i = this.log.length - 1; i >= 0 && this.log[i]!.at >= sinceMs; i--) {
      if (path === undefined || this.log[i]!.path === path) n++;
    }
    return n;
  }

  begin(path: string): void {
    this.requests++;
    this.byPath[path] = (this.byPath[path] ?? 0) + 1;
    this.inFlight++;
    if (this.inFlight > this.maxConcurrent) this.maxConcurrent = this.inFlight;
  }

  end(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  answered(path: string, status: number): void {
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
    this.log.push({ at: Date.now(), path, status });
    // Trimming in batches keeps recording O(1) amortised.
    if (this.log.length >= 2 * this.maxEvents) this.log = this.log.slice(-this.maxEvents);
  }

  faulted(kind: string): void {
    this.faultsInjected++;
    this.faultsByKind[kind] = (this.faultsByKind[kind] ?? 0) + 1;
  }

  rejected(reason: string): void {
    this.signatureRejections++;
    this.lastRejection = reason;
  }

  /** Zeroes every counter; requests in flight stay counted as in flight. */
  reset(): void {
    this.requests = 0;
    this.byPath = {};
    this.byStatus = {};
    this.tokensIssued = 0;
    this.signatureRejections = 0;
    this.lastRejection = undefined;
    this.accountsServed = 0;
    this.pagesServed = 0;
    this.faultsInjected = 0;
    this.faultsByKind = {};
    this.connections = 0;
    this.maxConcurrent = this.inFlight;
    this.log = [];
  }
}
