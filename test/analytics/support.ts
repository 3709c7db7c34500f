// Helpers shared by the analytics tests: scripted pages for the real writer, an output stream
// that can be awaited, and a pg connection that hands back every value as PostgreSQL printed it.
import { Writable } from 'node:stream';
import { Client } from 'pg';
import type { PrismaClient } from '../../src/db/prisma.js';
import { writePage, type AccountRecord } from '../../src/sync/store.js';
import { pageWrite } from '../support/pages.js';

/** A deterministic account id: 00000000-0000-4000-8000-<n, 12 digits>. */
export function accountId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

export function userId(n: number): string {
  return `20000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

export function account(
  n: number,
  status: string,
  updatedAt: string,
  overrides: Partial<AccountRecord> = {},
): AccountRecord {
  return {
    id: accountId(n),
    accountGroupId: '10000000-0000-4000-8000-000000000001',
    type: 'TRADING',
    name: `Account ${n}`,
    status,
    accountNumber: n,
    createdAt: '2024-01-01T00:00:00Z',
    updatedAt,
    users: [{ id: userId(n), type: 'OWNER' }],
    ...overrides,
  };
}

export async function openRun(prisma: PrismaClient): Promise<bigint> {
  return (await prisma.syncRun.create({ data: { pageSize: 100 } })).id;
}

const pageIndexes = new Map<bigint, number>();

/** Writes one page of a run through the sync engine's own writer. */
export async function writeAccounts(
  prisma: PrismaClient,
  runId: bigint,
  accounts: AccountRecord[],
  observedAt: string,
) {
  const pageIndex = pageIndexes.get(runId) ?? 0;
  pageIndexes.set(runId, pageIndex + 1);
  return writePage(prisma, pageWrite(runId, pageIndex, accounts, { offset: pageIndex * 100, observedAt: new Date(observedAt) }));
}

/** What the end of a complete run does to an account it no longer lists (see closeRun). */
export async function markDeleted(prisma: PrismaClient, n: number, deletedAt: string, runId: bigint): Promise<void> {
  await prisma.$executeRaw`
    UPDATE accounts SET deleted_at = ${deletedAt}::timestamptz, last_sync_run_id = ${runId}
    WHERE id = ${accountId(n)}::uuid`;
}

/** A writable stream collecting lines; `waitForLines(n)` resolves once n lines arrived. */
export class LineCapture extends Writable {
  readonly lines: string[] = [];
  private partial = '';
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const text = this.partial + chunk.toString();
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    this.waiters = this.waiters.filter((waiter) => {
      if (this.lines.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
    callback();
  }

  waitForLines(count: number): Promise<void> {
    if (this.lines.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  get text(): string {
    return this.lines.join('\n') + (this.partial ? `\n${this.partial}` : '');
  }
}

/** A connection on which every value comes back as the text PostgreSQL printed. */
export async function textClient(url: string, options: { user?: string } = {}): Promise<Client> {
  const target = new URL(url);
  if (options.user) {
    target.username = options.user;
    target.password = '';
  }
  const client = new Client({
    connectionString: target.toString(),
    types: { getTypeParser: () => (value: string) => value },
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The SQLSTATE a promise rejects with (or 'resolved'). */
export async function sqlState(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Items pushed by a producer; `waitFor(n)` resolves once there are n of them. */
export class Collected<T> {
  readonly items: T[] = [];
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  push(item: T): void {
    this.items.push(item);
    this.waiters = this.waiters.filter((waiter) => {
      if (this.items.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  waitFor(count: number): Promise<void> {
    if (this.items.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
