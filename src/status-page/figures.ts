// The status page's costly figures: live accounts by status, the daily trend by status over
// the last year (account_status_daily) and the status changes per hour over the last days.
// On a million accounts and a year of history they take the best part of a second together,
// so they are computed in the background and cached (see cache.ts), never per request.
import type { PrismaClient } from '../db/prisma.js';

/** The longest range the page offers; shorter ranges are the tail of this one. */
export const TREND_DAYS = 366;
/** Hours in the changes-per-hour chart. */
export const CHANGE_HOURS = 7 * 24;

export interface MirrorFigures {
  /** UTC, the day the trend ends on (today when computed). */
  today: string;
  accounts: { live: number; deleted: number; byStatus: Array<{ status: string; accounts: number }> };
  /**
   * Accounts in each status at the end of each UTC day, oldest day first; null for the days
   * before the mirror began (the UTC day its first successful run finished): nobody saw them.
   */
  trend: { days: string[]; began: string | null; series: Array<{ status: string; accounts: Array<number | null> }> };
  /** Status changes by the hour they happened (changed_at), oldest hour first, the current hour last. */
  changesPerHour: { hours: string[]; changes: number[] };
}

export async function computeMirrorFigures(prisma: PrismaClient, now: Date): Promise<MirrorFigures> {
  const today = now.toISOString().slice(0, 10);
  const currentHour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000);
  const firstHour = new Date(currentHour.getTime() - (CHANGE_HOURS - 1) * 3_600_000);
  const [byStatus, deleted, daily, hourly, firstRun] = await Promise.all([
    prisma.$queryRaw<Array<{ status: string; accounts: number }>>`
      SELECT status, accounts::int AS accounts FROM account_status_counts ORDER BY accounts DESC, status`,
    prisma.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM accounts WHERE deleted_at IS NOT NULL`,
    prisma.$queryRaw<Array<{ day: string; status: string; accounts: number }>>`
      SELECT day::text AS day, status, accounts::int AS accounts
      FROM account_status_daily(${today}::date - ${TREND_DAYS - 1}::int, ${today}::date)
      ORDER BY day, status`,
    prisma.$queryRaw<Array<{ hour: string; changes: number }>>`
      SELECT to_char(date_trunc('hour', changed_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD"T"HH24":00Z"') AS hour,
             count(*)::int AS changes
      FROM account_status_changes
      WHERE changed_at >= ${firstHour}::timestamptz
      GROUP BY 1`,
    prisma.$queryRaw<Array<{ began: string | null }>>`
      SELECT (min(finished_at) AT TIME ZONE 'UTC')::date::text AS began FROM sync_runs WHERE status = 'succeeded'`,
  ]);
  const began = firstRun[0]?.began ?? null;

  const days = dayRange(today, TREND_DAYS);
  const dayIndex = new Map(days.map((day, i) => [day, i]));
  // Days are YYYY-MM-DD: compared as text, they compare as dates.
  const known = days.map((day) => began !== null && day >= began);
  const series = new Map<string, Array<number | null>>();
  for (const row of daily) {
    if (began === null || row.day < began) continue;
    let values = series.get(row.status);
    if (!values) series.set(row.status, (values = known.map((k) => (k ? 0 : null))));
    const i = dayIndex.get(row.day);
    if (i !== undefined) values[i] = row.accounts;
  }

  const hours = Array.from({ length: CHANGE_HOURS }, (_, i) => `${new Date(firstHour.getTime() + i * 3_600_000).toISOString().slice(0, 13)}:00Z`);
  const perHour = new Map(hourly.map((row) => [row.hour, row.changes]));

  return {
    today,
    accounts: {
      live: byStatus.reduce((sum, row) => sum + row.accounts, 0),
      deleted: deleted[0]?.n ?? 0,
      byStatus,
    },
    trend: { days, began, series: [...series].map(([status, accounts]) => ({ status, accounts })).sort((a, b) => a.status.localeCompare(b.status)) },
    changesPerHour: { hours, changes: hours.map((hour) => perHour.get(hour) ?? 0) },
  };
}

/** The `count` UTC days ending on `last` (YYYY-MM-DD), oldest first. */
export function dayRange(last: string, count: number): string[] {
  const end = Date.parse(`${last}T00:00:00Z`);
  return Array.from({ length: count }, (_, i) => new Date(end - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

/** The figures with the trend cut to its last `days` days. */
export function withTrendDays(figures: MirrorFigures, days: number): MirrorFigures {
  const from = Math.max(0, figures.trend.days.length - days);
  return {
    ...figures,
    trend: {
      ...figures.trend,
      days: figures.trend.days.slice(from),
      series: figures.trend.series.map((s) => ({ status: s.status, accounts: s.accounts.slice(from) })),
    },
  };
}
