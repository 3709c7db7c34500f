// A page as the sync engine hands it to writePage, for tests that write accounts directly; and
// a page's bookkeeping row, for tests that stage what a run committed.
import type { PageRecord } from '../../src/runs/sql/pages.js';
import type { AccountRecord, PageWrite } from '../../src/sync/store.js';

export function pageWrite(
  runId: bigint,
  pageIndex: number,
  accounts: AccountRecord[],
  options: { offset: number; observedAt: Date },
): PageWrite {
  return {
    runId,
    pageIndex,
    offset: options.offset,
    totalCount: accounts.length,
    itemCount: accounts.length,
    firstId: accounts[0]?.id ?? null,
    lastId: accounts[accounts.length - 1]?.id ?? null,
    accounts,
    rejected: [],
    listedIds: accounts.map((a) => a.id),
    retries: 0,
    observedAt: options.observedAt,
  };
}

/** The bookkeeping row of a page that listed no account (see recordPages). */
export function emptyPageRecord(runId: bigint, index: number, options: { offset?: number; kind?: PageRecord['kind'] } = {}): PageRecord {
  return {
    runId,
    index,
    offset: options.offset ?? 0,
    itemCount: 0,
    totalCount: 0,
    firstId: null,
    lastId: null,
    listedIds: [],
    inserted: 0,
    updated: 0,
    unchanged: 0,
    statusChanges: 0,
    rejected: 0,
    unidentified: 0,
    retries: 0,
    kind: options.kind ?? 'walk',
    catchUpPass: options.kind === 'catch_up' ? 1 : 0,
    keys: null,
    endsList: false,
  };
}
