// The last runs: with Upvest behaving and still, `sync` until one run has started afresh (not
// resumed a run left behind) and walked the whole list consistently, so that the mirror must
// now equal upstream exactly.
import type { EpisodeStage } from './episode.js';

export async function finalRuns(stage: EpisodeStage): Promise<void> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    await stage.checker.idle();
    const proc = stage.processes.spawn('sync', ['sync', '--json']);
    stage.figures.count(stage.figures.launched, 'sync (final)');
    const exit = await proc.closed;
    stage.figures.count(stage.figures.exits, `final sync exit ${exit.code ?? exit.signal}`);
    let summary: { status?: string; walk_consistent?: boolean } = {};
    try {
      summary = JSON.parse(proc.stdout()) as typeof summary;
    } catch {
      // no summary: exit 75 (locked) or a crash; try again
    }
    const fresh = proc.events.some((e) => e.kind === 'started') && !proc.events.some((e) => e.kind === 'resumed');
    if (summary.status === 'succeeded' && summary.walk_consistent === true && fresh) return;
  }
  stage.figures.notes.push('no final run walked the whole list consistently in 5 tries');
}
