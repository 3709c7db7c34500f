// SIGINT and SIGTERM, wired the same way for every command: the first asks the command to stop
// (a sync lets its page in flight commit, the daemon closes in order); a second one, from
// someone who does not want to wait, exits at once with 128 + the signal's number.
import { signalExitCode } from '../exit-codes.js';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface StopSignalHandlers {
  /** The first signal. */
  onStop(signal: NodeJS.Signals): void;
  /** Just before a second signal ends the process. */
  onAgain?(signal: NodeJS.Signals): void;
}

/** Wires SIGINT and SIGTERM to `handlers`; the function returned unwires them. */
export function onStopSignals(handlers: StopSignalHandlers): () => void {
  let stopping = false;
  const listener = (signal: NodeJS.Signals) => {
    if (stopping) {
      handlers.onAgain?.(signal);
      process.exit(signalExitCode(signal));
    }
    stopping = true;
    handlers.onStop(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, listener);
  return () => {
    for (const signal of STOP_SIGNALS) process.off(signal, listener);
  };
}

/** An AbortSignal that the first stop signal aborts, for commands that stop by aborting. */
export function abortOnStopSignals(reason?: unknown): { signal: AbortSignal; unwire: () => void } {
  const controller = new AbortController();
  const unwire = onStopSignals({ onStop: () => controller.abort(reason) });
  return { signal: controller.signal, unwire };
}

/** Settles once `signal` has aborted (at once if it already has): a server's "run until stopped". */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
