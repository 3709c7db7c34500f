// The simulator's accounts: a derived base (see base-accounts.ts) plus the few things tests
// change, kept as overrides (the state is in dataset-state.ts). Orderings are rebuilt lazily from
// the overrides only, so their cost grows with the number of changes, never with the number of
// accounts (see page-order.ts).
import type { UserRef } from './base-accounts.js';
import { applyRandomChanges, type ChangeLog, type RandomChangeOptions } from './changes.js';
import { DatasetState } from './dataset-state.js';
import type { AccountVersion, DatasetChange, SortField, SortOrder, UnknownFields } from './dataset-types.js';
import { Prng } from './hash.js';
import { sortedInsert, sortedRemove } from './ordering.js';
import { accountJson, accountObject, type SimAccount } from './render.js';
import { shuffleTiesOfWindow } from './tie-shuffle.js';

export type { SimAccount, UserRef, ChangeLog, RandomChangeOptions };
export type { AccountVersion, DatasetChange, DatasetOptions, SortField, SortOrder, UnknownFields } from './dataset-types.js';

export class Dataset extends DatasetState {
  private newUsers = 0;
  /** Serve accounts that share a sort key in a new order on every request (see servedIndices). */
  private tieShuffle: Prng | null = null;

  /**
   * Every version of the account the dataset served, oldest first, each from the instant it was
   * served (its updated_at for a change; the clock for a removal, a restoration or fields added
   * to every account). Needs the history option.
   */
  history(id: string): AccountVersion[] {
    if (!this.versions) throw new Error('simulator dataset: history was not kept (DatasetOptions.history)');
    const index = this.requireIndex(id);
    return this.versions.of(index);
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
    const atUs = this.clock.mark();
    touched.forEach((index) => this.keepVersion(index, atUs));
  }

  /** Sets the account's own unknown fields (undefined: none): a change, with a new updated_at. */
  setExtra(id: string, extra: Readonly<Record<string, unknown>> | undefined): SimAccount {
    return this.change(id, 'extra', (o) => (o.extra = extra ?? {}));
  }

  /** Calls `listener` after every change, addition, removal and restoration; returns an unsubscribe. */
  onChange(listener: (change: DatasetChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Live (listed) accounts. */
  get count(): number {
    return this.base.count + this.added.length - this.removed.length;
  }

  /** The page's account indices; offsets past the end give an empty page. */
  indices(sort: SortField, order: SortOrder, offset: number, limit: number): number[] {
    return this.order.indices(this.count, sort, order, offset, limit);
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
      const createdUs = this.tick();
      const index = this.added.push(createdUs);
      this.keepVersion(index, createdUs);
      out.push(accountObject(this.fields(index)));
      this.emit('added', index);
    }
    this.order.invalidate();
    return out;
  }

  /** Stops listing the account; returns false when it was not listed. */
  remove(id: string): boolean {
    const index = this.requireIndex(id);
    this.keepVersion(index, 'before');
    const inserted = sortedInsert(this.removed, index);
    if (inserted) {
      this.keepVersion(index, this.tick());
      this.order.invalidate();
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
      this.order.invalidate();
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

}
