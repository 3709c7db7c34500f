// The state a Dataset is made of (its base accounts, what tests added, changed, removed or
// corrupted, its clock, history and orderings) and how an account is read from it and changed.
// Dataset (dataset.ts) builds its public operations on top.
import { AddedAccounts } from './added-accounts.js';
import { BaseAccounts, type AccountFields } from './base-accounts.js';
import { DatasetClock } from './dataset-clock.js';
import type { DatasetChange, DatasetOptions, Override, SortField, UnknownFields } from './dataset-types.js';
import { isRemovedFrom, PageOrder } from './page-order.js';
import { accountObject, type SimAccount } from './render.js';
import { servedFields } from './served-fields.js';
import { VersionHistory } from './version-history.js';

export abstract class DatasetState {
  readonly seed: number;
  protected readonly base: BaseAccounts;
  protected readonly clock: DatasetClock;
  protected readonly added: AddedAccounts;
  protected readonly overrides = new Map<number, Override>();
  protected readonly corruptions = new Map<number, Record<string, unknown>>();
  /** Records served as this exact JSON text instead of the account (see serveRaw). */
  protected readonly rawRecords = new Map<number, string>();
  /** Removed indices, sorted: the exclusions of the created_at order. */
  protected readonly removed: number[] = [];
  protected readonly listeners = new Set<(change: DatasetChange) => void>();
  protected unknownFields: UnknownFields | null = null;
  /** Null when not kept. */
  protected readonly versions: VersionHistory | null;
  protected readonly order: PageOrder;

  constructor(options: DatasetOptions = {}) {
    const count = options.accounts ?? 1000;
    if (!Number.isSafeInteger(count) || count < 0) throw new RangeError(`accounts must be a whole number >= 0, got ${count}`);
    this.seed = (options.seed ?? 1) >>> 0;
    this.base = new BaseAccounts(this.seed, count, { bulkCreated: options.bulkCreated, tenant: options.tenant });
    this.clock = new DatasetClock(this.seed, options.now ?? Date.now, this.base.maxUpdatedUs);
    this.added = new AddedAccounts(this.seed, this.base);
    const isRemoved = (index: number) => this.isRemoved(index);
    this.versions = options.history
      ? new VersionHistory({ initialAtUs: (index) => this.initialAtUs(index), account: (index) => accountObject(this.fields(index)), isRemoved })
      : null;
    this.order = new PageOrder({
      baseCount: this.base.count,
      added: this.added.fields,
      overrides: this.overrides,
      removed: this.removed,
      updatedUsOf: (index) => this.updatedUsOf(index),
    });
  }

  protected initialAtUs(index: number): number {
    return index < this.base.count ? this.base.createdUs(index) : this.added.fields[index - this.base.count]!.createdUs;
  }

  protected keepVersion(index: number, atUs: number | 'before'): void {
    this.versions?.keep(index, atUs);
  }

  protected emit(kind: DatasetChange['kind'], index: number, fromStatus?: string): void {
    if (this.listeners.size === 0) return;
    const change: DatasetChange = { kind, account: accountObject(this.fields(index)), ...(fromStatus === undefined ? {} : { fromStatus }) };
    for (const listener of this.listeners) listener(change);
  }

  protected sortKeyOf(index: number, sort: SortField): number {
    return sort === 'updated_at' ? this.updatedUsOf(index) : this.initialAtUs(index);
  }

  protected isRemoved(index: number): boolean {
    return isRemovedFrom(this.removed, index);
  }

  protected indexOf(id: string): number | undefined {
    const index = this.base.indexOfId(id);
    return index !== undefined && index < this.base.count + this.added.length ? index : undefined;
  }

  protected requireIndex(id: string): number {
    const index = this.indexOf(id);
    if (index === undefined) throw new Error(`simulator dataset: unknown account ${id}`);
    return index;
  }

  protected fields(index: number): AccountFields {
    const n = this.base.count;
    const own = index < n ? this.base.fields(index) : { ...this.added.fields[index - n]! };
    return servedFields(own, this.overrides.get(index), this.unknownFields);
  }

  protected change(id: string, kind: DatasetChange['kind'], apply: (o: Override) => void, updatedUs?: number): SimAccount {
    const index = this.requireIndex(id);
    const fromStatus = kind === 'status' && this.listeners.size > 0 ? this.fields(index).status : undefined;
    this.keepVersion(index, 'before');
    const o = this.overrides.get(index) ?? { updatedUs: 0 };
    apply(o);
    o.updatedUs = updatedUs ?? this.tick();
    this.overrides.set(index, o);
    this.keepVersion(index, o.updatedUs);
    this.order.invalidate();
    this.emit(kind, index, fromStatus);
    return accountObject(this.fields(index));
  }

  protected tick(): number {
    return this.clock.tick();
  }

  protected updatedUsOf(index: number): number {
    const o = this.overrides.get(index);
    if (o) return o.updatedUs;
    return index < this.base.count ? this.base.updatedUs(index) : this.added.fields[index - this.base.count]!.updatedUs;
  }
}
