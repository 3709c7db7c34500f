// A page as the sync engine hands it to writePage, for tests that write accounts directly.
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
