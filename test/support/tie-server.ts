// A small in-memory Upvest for crash tests that must control exactly which accounts tie: 2,500
// accounts in created_at order, five of them (positions 1987 to 1991) sharing one created_at,
// served in the order the test gives. Pages of 1,000 sharing ten accounts put that tie group
// across the edge of the second and third page.
import { createHash } from 'node:crypto';
import type { AccountsPage, UpvestClient } from '../../src/upvest/client.js';

const uuid = (n: number, tag = 'a') => {
  const h = createHash('md5').update(`${tag}${n}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};

export interface TieAccount {
  id: string;
  created_at: string;
  updated_at: string;
  account_group_id: string;
  type: string;
  users: never[];
  name: string;
  status: string;
  account_number: number;
}

export const TIE_GROUP = [1987, 1988, 1989, 1990, 1991];
/** An account of the second page, away from its edges. */
export const SECOND_PAGE_ACCOUNT = 1500;

export function tieDataset(): TieAccount[] {
  const list: TieAccount[] = [];
  let seconds = 0;
  for (let position = 0; position < 2500; position++) {
    if (!TIE_GROUP.includes(position) || position === TIE_GROUP[0]) seconds += 1;
    const at = new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString();
    list.push({ id: uuid(position), created_at: at, updated_at: at, account_group_id: uuid(position, 'g'), type: 'TRADING', users: [], name: `Account ${position}`, status: 'ACTIVE', account_number: position + 1 });
  }
  return list;
}

/** Serves `list` with the tie group in `order` (positions into `list`); a request at `hold.offset` waits `hold.ms` first. */
export function tieClient(list: TieAccount[], order: number[], hold?: { offset: number; ms: number }): UpvestClient {
  const served = () => [...list.slice(0, TIE_GROUP[0]), ...order.map((p) => list[p]!), ...list.slice(TIE_GROUP.at(-1)! + 1)];
  return {
    async listAccounts(query) {
      if (hold && query.offset === hold.offset) await new Promise((resolve) => setTimeout(resolve, hold.ms));
      let rows = served();
      if (query.sort === 'updated_at') rows = [...rows].sort((a, b) => (a.updated_at < b.updated_at ? 1 : a.updated_at > b.updated_at ? -1 : 0));
      const data = rows.slice(query.offset, query.offset + query.limit);
      const digest = createHash('sha256').update(JSON.stringify(data)).digest('base64');
      return { meta: { offset: query.offset, limit: query.limit, count: data.length, total_count: rows.length }, data, requestId: undefined, digest, retries: 0 } as AccountsPage;
    },
    async getAccount(id) {
      const record = list.find((a) => a.id === id);
      return record ? { found: true, record, requestId: undefined } : { found: false, upvestProblem: true, requestId: undefined };
    },
  };
}
