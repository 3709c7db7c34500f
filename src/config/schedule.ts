// When the daemon runs: every SYNC_INTERVAL_MS, or on SYNC_CRON in SYNC_TZ. `status` reads the
// interval too, to say when the mirror is stale.
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { optional, section, withDefault } from './setting.js';
import { wholeNumber } from './values.js';

export interface ScheduleConfig {
  /**
   * How often the daemon syncs; `status` calls the mirror stale past twice this. With a cron
   * pattern and no SYNC_INTERVAL_MS, the longest gap between its next few firings.
   */
  intervalMs: number;
  /** Set when SYNC_CRON is: the daemon fires on the pattern instead of every `intervalMs`. */
  cron: { pattern: string; tz: string } | null;
}

const timeZone = z
  .string()
  .trim()
  .refine((zone) => isTimeZone(zone), { message: 'must be an IANA time zone such as Europe/Berlin' });

export const schedule = section(
  {
    SYNC_INTERVAL_MS: withDefault(
      wholeNumber(1_000, 7 * 86_400_000),
      '900000',
      "the daemon's schedule; status calls the mirror stale past twice this",
    ),
    SYNC_CRON: optional(z.string().trim(), 'a cron pattern instead of the interval'),
    SYNC_TZ: withDefault(timeZone, 'UTC', 'time zone of SYNC_CRON'),
  },
  (v, given): ScheduleConfig => {
    if (v.SYNC_CRON === undefined) return { intervalMs: v.SYNC_INTERVAL_MS, cron: null };
    const gap = cronGapMs(v.SYNC_CRON, v.SYNC_TZ);
    if (typeof gap === 'string') throw new ConfigError([{ key: 'SYNC_CRON', message: gap }]);
    // A pattern's own rhythm stands in for the interval unless one was set explicitly.
    return { intervalMs: given.has('SYNC_INTERVAL_MS') ? v.SYNC_INTERVAL_MS : gap, cron: { pattern: v.SYNC_CRON, tz: v.SYNC_TZ } };
  },
);

/** The longest gap between the next firings of a cron pattern, or why the pattern is unusable. */
function cronGapMs(pattern: string, tz: string): number | string {
  try {
    const expression = CronExpressionParser.parse(pattern, { tz, currentDate: new Date() });
    const times = expression.take(8).map((date) => date.getTime());
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    if (gap < 1_000) return 'must not fire more than once a second';
    return gap;
  } catch (error) {
    return `is not a cron pattern (${error instanceof Error ? error.message : String(error)})`;
  }
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
