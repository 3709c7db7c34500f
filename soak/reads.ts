// What each process was shown: every page of accounts the simulator served, parsed, tagged with
// the process (by its token's scopes) and the time it was served. When a process ends a run
// successfully, the newest version of each account its final attempt read is what that run
// "saw": those versions must be visible in the mirror's history (see history-check.ts).
import type { ServedPage, Simulator } from '../src/simulator/index.js';
import { canonicalTime } from './upstream.js';

export interface Read {
  at: number;
  id: string;
  updatedAt: string;
  status: string;
}

interface ServedRead {
  at: number;
  delivered: Promise<boolean>;
  records: Array<Omit<Read, 'at'>>;
}

/** A version some successful run certainly read (and so committed). */
export interface Seen {
  updatedAt: string;
  status: string;
  runId: string;
}

export class Reads {
  private readonly byProc = new Map<number, ServedRead[]>();
  /** account id -> updated_at -> what a successful run read. */
  readonly mustSee = new Map<string, Map<string, Seen>>();
  pagesObserved = 0;
  /** "id updated_at" -> when a `sync` (any attempt, successful or not) was first delivered that version. */
  private readonly firstDelivered = new Map<string, number>();

  constructor(simulator: Simulator, procOfScopes: (scopes: string[]) => number | undefined, private readonly pageSize: number) {
    simulator.observePages((page) => this.observe(page, procOfScopes(page.scopes)));
  }

  private observe(page: ServedPage, proc: number | undefined): void {
    // The one-account look at the newest update that starts a full run writes nothing.
    if (proc === undefined || (page.limit === 1 && this.pageSize > 1)) return;
    const parsed = JSON.parse(page.body.toString('utf8')) as { data: Array<{ id: string; updated_at: string; status: string }> };
    const list = this.byProc.get(proc) ?? [];
    const at = Date.now();
    const records = parsed.data.map((r) => ({ id: r.id, updatedAt: canonicalTime(r.updated_at), status: r.status }));
    list.push({ at, delivered: page.delivered, records });
    void page.delivered.then((delivered) => {
      if (delivered) for (const r of records) this.sawDelivered(r.id, r.updatedAt, at);
    });
    this.byProc.set(proc, list);
    this.pagesObserved += 1;
  }

  /** A process was delivered this version at `at` (a page, or a lookup of one account). */
  sawDelivered(id: string, updatedAt: string, at: number): void {
    const key = `${id} ${updatedAt}`;
    const first = this.firstDelivered.get(key);
    if (first === undefined || at < first) this.firstDelivered.set(key, at);
  }

  /** When a process was first delivered this version, if ever. */
  deliveredAt(id: string, updatedAt: string): number | undefined {
    return this.firstDelivered.get(`${id} ${updatedAt}`);
  }

  /**
   * Process `proc` ended an attempt at `end`; if it succeeded run `runId`, having begun the
   * attempt at `start`, the newest version of each account it was delivered is a must-see.
   * Reads up to `end` are then forgotten.
   */
  async concluded(proc: number, end: number, success?: { runId: string; start: number }): Promise<Map<string, Read>> {
    const list = this.byProc.get(proc) ?? [];
    const done = list.filter((r) => r.at <= end);
    this.byProc.set(proc, list.filter((r) => r.at > end));
    const newest = new Map<string, Read>();
    if (!success) return newest;
    for (const served of done) {
      if (served.at < success.start || !(await served.delivered)) continue;
      for (const record of served.records) {
        const seen = newest.get(record.id);
        if (!seen || seen.updatedAt < record.updatedAt) newest.set(record.id, { ...record, at: served.at });
      }
    }
    for (const read of newest.values()) {
      const versions = this.mustSee.get(read.id) ?? new Map<string, Seen>();
      if (!versions.has(read.updatedAt)) versions.set(read.updatedAt, { updatedAt: read.updatedAt, status: read.status, runId: success.runId });
      this.mustSee.set(read.id, versions);
    }
    return newest;
  }
}
