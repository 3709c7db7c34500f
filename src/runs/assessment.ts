// Whether a run's walk can be trusted as the whole list, judged from its committed pages
// (sync_run_pages), so that a resumed run judges the pages of every attempt: by their keys (see
// coverage.ts), not by their positions, which shift whenever the list changes under the walk.
import { AFTER_ALL, coverageGaps, coverageVerdict, type CoveragePage } from './coverage.js';
import type { StoredCoverage } from './sql/pages.js';

export interface PageMeta {
  index: number;
  offset: number;
  count: number;
  totalCount: number;
  firstId: string | null;
  lastId: string | null;
}

/**
 * Accounts on these pages, each page after the first not counting the `overlap` accounts it
 * repeats from the previous one. The progress figure; the run's own total counts distinct ids.
 */
export function accountsOnPages(pages: ReadonlyArray<Pick<PageMeta, 'index' | 'count'>>, overlap: number): number {
  return pages.reduce((sum, page) => sum + (page.index === 0 ? page.count : Math.max(0, page.count - overlap)), 0);
}

export interface WalkAssessment {
  /** The walk reached the end of the list (a newest-first walk: its watermark). */
  complete: boolean;
  /** Its pages prove that it listed every account listed throughout it. */
  consistent: boolean;
  /** Why the walk cannot be trusted as the whole list; empty when it can. */
  reasons: string[];
}

/**
 * The verdict on a walk's pages: oldest first by created_at (full), or newest first by
 * updated_at, where every account updated after `newerThan` (microseconds) must be proven.
 */
export function walkCoverage(stored: ReadonlyArray<StoredCoverage>, mode: 'full' | 'incremental', newerThan: bigint | null): WalkAssessment {
  const descending = mode === 'incremental';
  const key = (text: string | null) => {
    const micros = text === null ? null : storedMicros(text);
    return micros === null ? null : descending ? -micros : micros;
  };
  const pages: CoveragePage[] = stored.map((page) => ({ ...page, firstKey: key(page.firstKey), lastKey: key(page.lastKey) }));
  // Negated, keys above `newerThan` are those below -newerThan.
  const until = descending && newerThan !== null ? -newerThan : AFTER_ALL;
  const gaps = coverageGaps(pages, until);
  const verdict = coverageVerdict(gaps, (k) => describeMicros(descending ? -k : k));
  return { complete: !gaps.some((gap) => gap.above === null), consistent: verdict.proven, reasons: verdict.reasons };
}

/** Microseconds of a timestamp as the database prints it (utcText: `YYYY-MM-DDTHH:MM:SS.ffffffZ`). */
export function storedMicros(text: string): bigint | null {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{6})Z$/.exec(text);
  if (!match) return null;
  const seconds = Date.parse(`${match[1]}Z`);
  return Number.isNaN(seconds) ? null : BigInt(seconds) * 1000n + BigInt(match[2]!);
}

export function describeMicros(micros: bigint): string {
  const millis = Number(micros / 1000n);
  const date = new Date(millis);
  if (Number.isNaN(date.getTime())) return String(micros);
  const fraction = String(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0');
  return `${date.toISOString().slice(0, 19)}.${fraction}Z`;
}
