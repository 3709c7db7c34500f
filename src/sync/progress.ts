// How far a run has got, and a live progress line on an interactive terminal (nothing at all
// otherwise, so that logs collected from a service are not flooded with progress).
import { accountsOnPages } from '../runs/assessment.js';
import type { OpenRun } from '../runs/lifecycle.js';

export interface SyncProgress {
  runId: bigint;
  pagesDone: number;
  accountsDone: number;
  totalCount: number | null;
}

/** Counts the run's committed pages (those of earlier attempts included) and reports each new one. */
export function progressOf(run: OpenRun, onProgress: ((progress: SyncProgress) => void) | undefined) {
  const progress: SyncProgress = {
    runId: run.runId,
    pagesDone: run.donePages.length,
    accountsDone: accountsOnPages(run.donePages, run.pageOverlap),
    totalCount: run.donePages[0]?.totalCount ?? null,
  };
  return {
    pageDone(page: { index: number; count: number; totalCount: number }): void {
      progress.pagesDone += 1;
      progress.accountsDone += accountsOnPages([page], run.pageOverlap);
      progress.totalCount ??= page.totalCount;
      onProgress?.({ ...progress });
    },
  };
}

export interface ProgressDisplay {
  update(progress: SyncProgress): void;
  done(): void;
}

export function createProgressDisplay(stream: NodeJS.WritableStream, interactive: boolean, now = Date.now): ProgressDisplay {
  if (!interactive) return { update() {}, done() {} };
  const started = now();
  let lastDraw = 0;
  let drawn = false;
  let latest: SyncProgress | undefined;
  const draw = (progress: SyncProgress, time: number) => {
    const elapsed = Math.max(0.001, (time - started) / 1000);
    const total = progress.totalCount ?? 0;
    const percent = total > 0 ? Math.min(100, Math.floor((progress.accountsDone / total) * 100)) : 100;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const rate = Math.round(progress.accountsDone / elapsed);
    stream.write(
      `\r[${bar}] ${percent}%  ${progress.accountsDone}/${total} accounts  ${progress.pagesDone} pages  ${rate}/s   `,
    );
    drawn = true;
  };
  return {
    update(progress) {
      latest = progress;
      const time = now();
      if (time - lastDraw < 100) return;
      lastDraw = time;
      draw(progress, time);
    },
    done() {
      // The last update may have fallen between two redraws: show where the run ended.
      if (latest) draw(latest, now());
      if (drawn) stream.write('\n');
    },
  };
}
