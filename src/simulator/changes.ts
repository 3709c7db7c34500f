// A deterministic batch of realistic changes, for tests ("what did the sync pick up?") and the
// demo's live mode. Each category picks accounts no other category touched in the same batch.
import type { Dataset } from './dataset.js';
import { Prng } from './hash.js';
import { accountName } from './names.js';

export interface RandomChangeOptions {
  seed: number;
  statusChanges?: number;
  renames?: number;
  additions?: number;
  removals?: number;
  userChanges?: number;
}

export interface ChangeLog {
  statusChanges: Array<{ id: string; from: string; to: string }>;
  renames: Array<{ id: string; from: string; to: string }>;
  userChanges: Array<{ id: string; from: string[]; to: string[] }>;
  added: string[];
  removed: string[];
}

/** The lifecycle moves a real account makes; CLOSED is final. Unknown statuses recover. */
export function nextStatus(status: string, prng: Prng): string | undefined {
  switch (status) {
    case 'PENDING_APPROVAL':
      return 'ACTIVE';
    case 'ACTIVE':
      return prng.next() < 0.6 ? 'CLOSING' : 'LOCKED';
    case 'CLOSING':
      return 'CLOSED';
    case 'LOCKED':
      return 'ACTIVE';
    case 'CLOSED':
      return undefined;
    default:
      return 'ACTIVE';
  }
}

const MAX_TRIES = 64;

export function applyRandomChanges(dataset: Dataset, options: RandomChangeOptions): ChangeLog {
  const prng = new Prng(options.seed);
  const touched = new Set<string>();
  const log: ChangeLog = { statusChanges: [], renames: [], userChanges: [], added: [], removed: [] };

  // A fresh live account nobody in this batch has touched, optionally one that `accept`s.
  const pick = (accept: (status: string) => boolean = () => true) => {
    for (let attempt = 0; attempt < MAX_TRIES && touched.size < dataset.count; attempt++) {
      const account = dataset.at(prng.int(dataset.count));
      if (!account || touched.has(account.id) || !accept(account.status)) continue;
      touched.add(account.id);
      return account;
    }
    return undefined;
  };

  for (let k = 0; k < (options.statusChanges ?? 0); k++) {
    const account = pick((status) => status !== 'CLOSED');
    if (!account) break;
    const to = nextStatus(account.status, prng) ?? 'ACTIVE';
    dataset.setStatus(account.id, to);
    log.statusChanges.push({ id: account.id, from: account.status, to });
  }
  for (let k = 0; k < (options.renames ?? 0); k++) {
    const account = pick();
    if (!account) break;
    let to = accountName(prng.int(2 ** 32), prng.int(2 ** 32));
    if (to === account.name) to = `${to.slice(0, 97)} II`;
    dataset.rename(account.id, to);
    log.renames.push({ id: account.id, from: account.name, to });
  }
  for (let k = 0; k < (options.userChanges ?? 0); k++) {
    const account = pick();
    if (!account) break;
    const from = account.users.map((u) => u.id);
    // Joint holders come and go: add a second owner, or drop all but the first.
    const to = from.length > 1 ? from.slice(0, 1) : [...from, dataset.newUserId()];
    dataset.setUsers(account.id, to);
    log.userChanges.push({ id: account.id, from, to });
  }
  for (let k = 0; k < (options.removals ?? 0); k++) {
    const account = pick();
    if (!account) break;
    dataset.remove(account.id);
    log.removed.push(account.id);
  }
  if ((options.additions ?? 0) > 0) log.added = dataset.add(options.additions ?? 0).map((a) => a.id);
  return log;
}
