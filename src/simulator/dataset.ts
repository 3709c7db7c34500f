// The simulator's accounts: a derived base (see base-accounts.ts) plus the few things tests
// change, kept as overrides. Orderings are rebuilt lazily from the overrides only, so their
// cost grows with the number of changes, never with the number of accounts.
import { BaseAccounts, type AccountFields, type UserRef } from './base-accounts.js';
import { applyRandomChanges, type ChangeLog, type RandomChangeOptions } from './changes.js';
import { hash32, Prng } from './hash.js';
import { accountName } from './names.js';
import { lowerBound, pushAscending, pushDescending, sortedInsert, sortedRemove } from './ordering.js';
import { accountJson, accountObject, type SimAccount } from './render.js';
import type { AccountVersion, DatasetChange, DatasetOptions, Override, SortField, SortOrder, UnknownFields } from './dataset-types.js';
import { shuffleTiesOfWindow } from './tie-shuffle.js';

export type { SimAccount, UserRef, ChangeLog, RandomChangeOptions };
export type { AccountVersion, DatasetChange, DatasetOptions, SortField, SortOrder, UnknownFields } from './dataset-types.js';

const D_ADDED = 50;
const D_CLOCK = 51;
const D_NEW_USER = 52;

export class Dataset {
  readonly seed: number;
  private readonly base: BaseAccounts;
  private readonly now: () => number;
  private readonly added: AccountFields[] = [];
  private readonly overrides = new Map<number, Override>();
  private readonly corruptions = new Map<number, Record<string, unknown>>();
  /** Records served as this exact JSON text instead of the account (see serveRaw). */
  private readonly rawRecords = new Map<number, string>();
  /** Removed indices, sorted: the exclusions of the created_at order. */
  private readonly removed: number[] = [];
  private readonly listeners = new Set<(change: DatasetChange) => void>();
  private lastChangeUs: number;
  private unknownFields: UnknownFields | null = null;
  /** By index: every version since the first change (the one before it included); null when not kept. */
  private readonly versions: Map<number, AccountVersion[]> | null;
  private clockTicks = 0;
  private newUsers = 0;
  private addedGroups = 0;
  private lastAddedGroupSize = 0;
  // The updated_at order is "base indices minus the changed or removed ones" followed by the
  // "tail" (added and changed accounts, which are all newer than any untouched base account).
  private orderDirty = true;
  /** Serve accounts that share a sort key in a new order on every request (see servedIndices). */
  private tieShuffle: Prng | null = null;
  private updatedExcluded: number[] = [];
  private updatedTail: number[] = [];

  constructor(options: DatasetOptions = {}) {
    const count = options.accounts ?? 1000;
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`accounts must be a whole number >= 0, got ${count}`);
    this.seed = (options.seed ?? 1) >>> 0;
    this.now = options.now ?? Date.now;
    this.base = new BaseAccounts(this.seed, count, { bulkCreated: options.bulkCreated, tenant: options.tenant });
    this.lastChangeUs = this.base.maxUpdatedUs;
    this.versions = options.history ? new Map() : null;
  }

  /**
   * Every version of the account the dataset served, oldest first, each from the instant it was
   * served (its updated_at for a change; the clock for a removal, a restoration or fields added
   * to every account). Needs the history option.
   */
  history(id: string): AccountVersion[] {
    if (!this.versions) throw new Error('simulator dataset: history was not kept (DatasetOptions.history)');
    const index = this.requireIndex(id);
    return this.versions.get(index) ?? [{ atUs: this.initialAtUs(index), account: accountObject(this.fields(index)) }];
  }

  /** The account as served at `atUs`; null when not listed then (or not created yet). */
  asOf(id: string, atUs: number): SimAccount | null {
    let found: SimAccount | null = null;
    for (const version of this.history(id)) if (version.atUs <= atUs) found = version.account;
    return found;
  }

  /**
   * Serves these fields on every account and user from now on (null: none), as when Upvest
   * ships a minor version that adds fields: no account gets a new updated_at.
   */
  setUnknownFields(fields: UnknownFields | null): void {
    const touched = this.versions ? this.ids().map((id) => this.requireIndex(id)) : [];
    touched.forEach((index) => this.keepVersion(index, 'before'));
    this.unknownFields = fields;
    const atUs = Math.max(Math.floor(this.now()) * 1000, this.lastChangeUs + 1);
    this.lastChangeUs = atUs;
    touched.forEach((index) => this.keepVersion(index, atUs));
  }

  /** Sets the account's own unknown fields (undefined: none): a change, with a new updated_at. */
  setExtra(id: string, extra: Readonly<Record<string, unknown>> | undefined): SimAccount {
    return this.change(id, 'extra', (o) => (o.extra = extra ?? {}));
  }

  private initialAtUs(index: number): number {
    return index < this.base.count ? this.base.createdUs(index) : this.added[index - this.base.count]!.createdUs;
  }

  /** Keeps the version served now, from atUs; 'before': the one served before a first change. */
  private keepVersion(index: number, atUs: number | 'before'): void {
    if (!this.versions) return;
    const kept = this.versions.get(index);
    if (atUs === 'before') {
      if (!kept) this.versions.set(index, [{ atUs: this.initialAtUs(index), account: this.isRemoved(index) ? null : accountObject(this.fields(index)) }]);
      return;
    }
    const version = { atUs, account: this.isRemoved(index) ? null : accountObject(this.fields(index)) };
    if (kept) kept.push(version);
    else this.versions.set(index, [version]);
  }

  /** Calls `listener` after every change, addition, removal and restoration; returns an unsubscribe. */
  onChange(listener: (change: DatasetChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(kind: DatasetChange['kind'], index: number, fromStatus?: string): void {
    if (this.listeners.size === 0) return;
    const change: DatasetChange = { kind, account: accountObject(this.fields(index)), ...(fromStatus === undefined ? {} : { fromStatus }) };
    for (const listener of this.listeners) listener(change);
  }

  /** Live (listed) accounts. */
  get count(): number {
    return this.base.count + this.added.length - this.removed.length;
  }

  /** The page's account indices; offsets past the end give an empty page. */
  indices(sort: SortField, order: SortOrder, offset: number, limit: number): number[] {
    const total = this.count;
    const n = Math.max(0, Math.min(limit, total - offset));
    const out: number[] = [];
    if (n === 0) return out;
    if (sort === 'created_at') {
      if (order === 'ASC') pushAscending(this.removed, offset, n, out);
      else pushDescending(this.removed, total - 1 - offset, n, out);
      return out;
    }
    this.refreshOrder();
    const baseLive = this.base.count - this.updatedExcluded.length;
    const tail = this.updatedTail;
    if (order === 'ASC') {
      pushAscending(this.updatedExcluded, offset, Math.min(n, baseLive - offset), out);
      for (let p = Math.max(0, offset - baseLive); out.length < n; p++) out.push(tail[p]!);
    } else {
      for (let p = tail.length - 1 - offset; p >= 0 && out.length < n; p--) out.push(tail[p]!);
      const rank = baseLive - 1 - Math.max(0, offset - tail.length);
      pushDescending(this.updatedExcluded, rank, n - out.length, out);
    }
    return out;
  }

  /**
   * Serves accounts that share their sort key in no fixed order, a new one on every request, as
   * PostgreSQL does for ORDER BY created_at LIMIT ... OFFSET ... without a unique tie-breaker
   * (Upvest documents none). `seed` null: in index order, always the same.
   */
  shuffleTies(seed: number | null): void {
    this.tieShuffle = seed === null ? null : new Prng(seed);
  }

  /**
   * The page's account indices as a request is served: as indices(), but with ties of the sort
   * key in a fresh order when shuffleTies is on. Each request sees one consistent order, so a
   * tie group across the page's edges is cut from the same permutation on both sides.
   */
  servedIndices(sort: SortField, order: SortOrder, offset: number, limit: number): number[] {
    const rng = this.tieShuffle;
    if (rng === null) return this.indices(sort, order, offset, limit);
    return shuffleTiesOfWindow(rng, offset, limit, (low, asked) => this.indices(sort, order, low, asked), (index) => this.sortKeyOf(index, sort));
  }

  private sortKeyOf(index: number, sort: SortField): number {
    if (sort === 'updated_at') return this.updatedUsOf(index);
    return index < this.base.count ? this.base.createdUs(index) : this.added[index - this.base.count]!.createdUs;
  }

  /** The page's accounts as JSON text, one string per account, corruption included. */
  renderPage(sort: SortField, order: SortOrder, offset: number, limit: number): string[] {
    return this.indices(sort, order, offset, limit).map((i) => this.json(i));
  }

  /** One account as GET /accounts serves it, by index (see indices()). */
  json(index: number): string {
    return this.rawRecords.get(index) ?? accountJson(this.fields(index), this.corruptions.get(index));
  }

  /** Every live account in created_at order. Meant for tests with a few thousand accounts. */
  list(): SimAccount[] {
    return this.indices('created_at', 'ASC', 0, this.count).map((i) => accountObject(this.fields(i)));
  }

  ids(): string[] {
    return this.indices('created_at', 'ASC', 0, this.count).map((i) => this.fields(i).id);
  }

  /** The live account at `position` of an ordering. */
  at(position: number, sort: SortField = 'created_at', order: SortOrder = 'ASC'): SimAccount | undefined {
    const [index] = this.indices(sort, order, position, 1);
    return index === undefined ? undefined : accountObject(this.fields(index));
  }

  /** A live account's clean data (without corruption); undefined when unknown or removed. */
  get(id: string): SimAccount | undefined {
    const index = this.indexOf(id);
    return index === undefined || this.isRemoved(index) ? undefined : accountObject(this.fields(index));
  }

  /** What GET /accounts serves for this account, corruption included. */
  served(id: string): Record<string, unknown> | undefined {
    const index = this.indexOf(id);
    if (index === undefined || this.isRemoved(index)) return undefined;
    return JSON.parse(this.json(index)) as Record<string, unknown>;
  }

  /** The account's JSON text exactly as GET /accounts serves it; undefined when not listed. */
  servedText(id: string): string | undefined {
    const index = this.indexOf(id);
    return index === undefined || this.isRemoved(index) ? undefined : this.json(index);
  }

  has(id: string): boolean {
    const index = this.indexOf(id);
    return index !== undefined && !this.isRemoved(index);
  }

  setStatus(id: string, status: string): SimAccount {
    return this.change(id, 'status', (o) => (o.status = status));
  }

  rename(id: string, name: string): SimAccount {
    return this.change(id, 'rename', (o) => (o.name = name));
  }

  /**
   * Sets the status of all these accounts in one change: they share one updated_at, as a bulk
   * update upstream would give them.
   */
  setStatuses(ids: readonly string[], status: string): SimAccount[] {
    const updatedUs = this.tick();
    return ids.map((id) => this.change(id, 'status', (o) => (o.status = status), updatedUs));
  }

  setUsers(id: string, users: ReadonlyArray<string | { id: string; type?: string; extra?: Record<string, unknown> }>): SimAccount {
    const refs = users.map((u) =>
      typeof u === 'string' ? { id: u, type: 'OWNER' } : { id: u.id, type: u.type ?? 'OWNER', ...(u.extra ? { extra: u.extra } : {}) },
    );
    return this.change(id, 'users', (o) => (o.users = refs));
  }

  /** A user id nobody owns yet, for tests that give accounts new owners. */
  newUserId(): string {
    return this.base.userId(2 ** 40 + this.newUsers++);
  }

  /** New accounts, created now: the end of the created_at order and the newest updated_at. */
  add(n: number): SimAccount[] {
    const out: SimAccount[] = [];
    for (let k = 0; k < n; k++) {
      const index = this.base.count + this.added.length;
      const h = hash32(this.seed, D_ADDED, index);
      const previous = this.added[this.added.length - 1];
      const joinGroup = previous !== undefined && h % 100 < 25 && this.lastAddedGroupSize < 4;
      if (!joinGroup) {
        this.addedGroups++;
        this.lastAddedGroupSize = 0;
      }
      this.lastAddedGroupSize++;
      const ownerKey = (h >>> 8) % 100 < 20 && this.base.groupCount > 0
        ? this.base.groupOwner(hash32(this.seed, D_ADDED + 1, index) % this.base.groupCount)
        : this.base.groupCount + index;
      const createdUs = this.tick();
      const fields: AccountFields = {
        id: this.base.accountId(index),
        createdUs,
        updatedUs: createdUs,
        groupId: joinGroup ? previous.groupId : this.base.groupId(this.base.groupCount + this.addedGroups),
        type: (h >>> 16) % 100 < 85 ? 'TRADING' : 'PORTFOLIO',
        users: joinGroup ? previous.users : [{ id: this.base.userId(ownerKey), type: 'OWNER' }],
        name: accountName(hash32(this.seed, D_ADDED + 2, index), hash32(this.seed, D_ADDED + 3, index)),
        status: 'PENDING_APPROVAL',
        accountNumber: this.lastAddedGroupSize,
      };
      this.added.push(fields);
      this.keepVersion(index, createdUs);
      out.push(accountObject(this.fields(index)));
      this.emit('added', index);
    }
    this.orderDirty = true;
    return out;
  }

  /** Stops listing the account; returns false when it was not listed. */
  remove(id: string): boolean {
    const index = this.requireIndex(id);
    this.keepVersion(index, 'before');
    const inserted = sortedInsert(this.removed, index);
    if (inserted) {
      this.keepVersion(index, this.tick());
      this.orderDirty = true;
      this.emit('removed', index);
    }
    return inserted;
  }

  /** Lists a removed account again, with the data it had. */
  restore(id: string): boolean {
    const index = this.requireIndex(id);
    this.keepVersion(index, 'before');
    const deleted = sortedRemove(this.removed, index);
    if (deleted) {
      this.keepVersion(index, this.tick());
      this.orderDirty = true;
      this.emit('restored', index);
    }
    return deleted;
  }

  /**
   * Serves these raw keys over the account's JSON (a key set to undefined disappears). A fault,
   * not a change: updated_at and the orderings stay as they are.
   */
  corrupt(id: string, patch: Record<string, unknown>): void {
    const index = this.requireIndex(id);
    this.corruptions.set(index, { ...this.corruptions.get(index), ...patch });
  }

  uncorrupt(id: string): void {
    const index = this.requireIndex(id);
    this.corruptions.delete(index);
    this.rawRecords.delete(index);
  }

  /**
   * Serves this exact JSON text in the account's place (anything at all: a record without an
   * id, one nested ten thousand levels deep, escapes JSON.stringify would never write). A
   * fault, not a change: the account keeps its place in the orderings.
   */
  serveRaw(id: string, jsonText: string): void {
    this.rawRecords.set(this.requireIndex(id), jsonText);
  }

  applyRandomChanges(options: RandomChangeOptions): ChangeLog {
    return applyRandomChanges(this, options);
  }

  private isRemoved(index: number): boolean {
    return this.removed[lowerBound(this.removed, index)] === index;
  }

  private indexOf(id: string): number | undefined {
    const index = this.base.indexOfId(id);
    return index !== undefined && index < this.base.count + this.added.length ? index : undefined;
  }

  private requireIndex(id: string): number {
    const index = this.indexOf(id);
    if (index === undefined) throw new Error(`simulator dataset: unknown account ${id}`);
    return index;
  }

  private fields(index: number): AccountFields {
    const n = this.base.count;
    const f = index < n ? this.base.fields(index) : { ...this.added[index - n]! };
    const o = this.overrides.get(index);
    if (o) {
      f.updatedUs = o.updatedUs;
      if (o.status !== undefined) f.status = o.status;
      if (o.name !== undefined) f.name = o.name;
      if (o.users !== undefined) {
        f.users = o.users;
        f.usersJson = undefined;
      }
      if (o.extra !== undefined) f.extra = o.extra;
    }
    const added = this.unknownFields;
    if (added?.account) f.extra = { ...added.account, ...f.extra };
    if (added?.user) {
      f.users = f.users.map((u) => ({ ...u, extra: { ...added.user, ...u.extra } }));
      f.usersJson = undefined;
    }
    if (f.extra && Object.keys(f.extra).length === 0) delete f.extra;
    return f;
  }

  private change(id: string, kind: DatasetChange['kind'], apply: (o: Override) => void, updatedUs?: number): SimAccount {
    const index = this.requireIndex(id);
    const fromStatus = kind === 'status' && this.listeners.size > 0 ? this.fields(index).status : undefined;
    this.keepVersion(index, 'before');
    const o = this.overrides.get(index) ?? { updatedUs: 0 };
    apply(o);
    o.updatedUs = updatedUs ?? this.tick();
    this.overrides.set(index, o);
    this.keepVersion(index, o.updatedUs);
    this.orderDirty = true;
    this.emit(kind, index, fromStatus);
    return accountObject(this.fields(index));
  }

  /**
   * The clock in microseconds, strictly increasing across calls and newer than every base
   * account. The sub-millisecond part is hashed so that timestamps carry real microseconds.
   */
  private tick(): number {
    const micros = hash32(this.seed, D_CLOCK, this.clockTicks++) % 1000;
    this.lastChangeUs = Math.max(Math.floor(this.now()) * 1000 + micros, this.lastChangeUs + 1);
    return this.lastChangeUs;
  }

  private updatedUsOf(index: number): number {
    const o = this.overrides.get(index);
    if (o) return o.updatedUs;
    return index < this.base.count ? this.base.updatedUs(index) : this.added[index - this.base.count]!.updatedUs;
  }

  private refreshOrder(): void {
    if (!this.orderDirty) return;
    const n = this.base.count;
    const excluded = new Set<number>();
    const tail: number[] = [];
    for (const index of this.overrides.keys()) {
      if (index < n) excluded.add(index);
      if (!this.isRemoved(index)) tail.push(index);
    }
    for (const index of this.removed) if (index < n) excluded.add(index);
    for (let k = 0; k < this.added.length; k++) {
      const index = n + k;
      if (!this.overrides.has(index) && !this.isRemoved(index)) tail.push(index);
    }
    this.updatedExcluded = [...excluded].sort((a, b) => a - b);
    const keyed = tail.map((index) => ({ index, at: this.updatedUsOf(index) }));
    keyed.sort((a, b) => a.at - b.at || a.index - b.index);
    this.updatedTail = keyed.map((k) => k.index);
    this.orderDirty = false;
  }
}
