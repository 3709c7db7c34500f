// Every exit code account-sync uses, in one table: scripts, cron jobs and monitoring checks
// branch on them, so each means one thing in every command. 75 and 78 are sysexits.h's
// EX_TEMPFAIL and EX_CONFIG, which service managers already know.

export const EXIT = {
  /** Done as asked. */
  ok: 0,
  /** The work failed (a failed run, an unreachable database, a refused request). */
  failed: 1,
  /** The command line was wrong: usage on standard error. */
  usage: 2,
  /** `status`: the mirror is stale, or no run has succeeded yet. */
  stale: 3,
  /**
   * `sync`: the run could not prove that it listed every account (SYNC_WALK_UNPROVEN); it kept
   * what it wrote and marked nothing deleted. Run a full sync.
   */
  incomplete: 4,
  /** Try again later: another sync holds the run lock. */
  locked: 75,
  /** A setting is missing or malformed. */
  config: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGTERM: 15 };

/** What a shell reports for a process ended by `signal`: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (SIGNAL_NUMBERS[signal] ?? 0);
}
