// One episode of the schedule: changes upstream, then a run (a `sync` process, or the worker
// asked through `trigger`), with changes trickling in while it walks and, as drawn, one
// disruption; Redis restarted while idle now and then. The episode ends when the run's
// process says how it went (or dies), and its check is done.
import type { Checker } from './checker.js';
import type { Changes } from './changes.js';
import { disrupt, type Disruption, type Stage } from './disruptions.js';
import type { Env, Proc } from './processes.js';

export interface EpisodeStage extends Stage {
  changes: Changes;
  checker: Checker;
  workerEnv: Env;
  worker(): Proc;
  respawnWorker(): Proc;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Disruptions that must each happen at least once (the first episodes go through them). */
export const REQUIRED: Array<{ executor: 'sync' | 'worker'; disruption: Disruption | 'redis idle keep' | 'redis idle lose' }> = [
  { executor: 'sync', disruption: 'kill in a page transaction' },
  { executor: 'sync', disruption: 'kill between pages' },
  { executor: 'worker', disruption: 'kill in a page transaction' },
  { executor: 'sync', disruption: 'terminate a page transaction' },
  { executor: 'sync', disruption: 'restart PostgreSQL' },
  { executor: 'worker', disruption: 'restart Redis keeping data' },
  { executor: 'worker', disruption: 'restart Redis losing data' },
  { executor: 'worker', disruption: 'redis idle keep' },
  { executor: 'worker', disruption: 'redis idle lose' },
  { executor: 'sync', disruption: 'terminate every connection' },
  { executor: 'sync', disruption: 'upstream outage' },
  { executor: 'worker', disruption: 'kill between pages' },
];

const SYNC_DISRUPTIONS: Array<[Disruption, number]> = [
  ['none', 30],
  ['kill in a page transaction', 14],
  ['kill between pages', 12],
  ['terminate a page transaction', 10],
  ['terminate every connection', 6],
  ['restart PostgreSQL', 4],
  ['upstream outage', 6],
];
const WORKER_DISRUPTIONS: Array<[Disruption | 'redis idle keep' | 'redis idle lose', number]> = [
  ['none', 30],
  ['kill in a page transaction', 10],
  ['kill between pages', 8],
  ['terminate a page transaction', 6],
  ['restart Redis keeping data', 6],
  ['restart Redis losing data', 6],
  ['redis idle keep', 5],
  ['redis idle lose', 5],
  ['restart PostgreSQL', 3],
  ['upstream outage', 4],
];

function draw<T>(stage: Stage, weighted: Array<[T, number]>): T {
  let r = stage.prng.next() * weighted.reduce((sum, [, w]) => sum + w, 0);
  for (const [value, weight] of weighted) if ((r -= weight) < 0) return value;
  return weighted[0]![0];
}

export async function episode(stage: EpisodeStage, n: number): Promise<void> {
  const f = stage.figures;
  f.episodes += 1;
  const began = Date.now();
  await quiescent(stage, 60_000);
  const waited = Date.now() - began;
  stage.changes.between();
  const required = REQUIRED[n];
  const executor = required?.executor ?? (stage.prng.next() < 0.35 ? 'worker' : 'sync');
  let disruption = required?.disruption ?? (executor === 'worker' ? draw(stage, WORKER_DISRUPTIONS) : draw(stage, SYNC_DISRUPTIONS));
  if (disruption === 'redis idle keep' || disruption === 'redis idle lose') {
    await stage.redis.restart(disruption === 'redis idle keep');
    f.count(f.restarts, `Redis while idle, ${disruption === 'redis idle keep' ? 'keeping' : 'losing'} its data`);
    disruption = 'none';
  }
  stage.changes.during(stage.prng.next() < 0.3);
  const since = Date.now();
  let target: Proc;
  if (executor === 'sync') {
    const mode = stage.prng.next() < 0.25 ? ['--incremental'] : [];
    const env: Env = { SYNC_CONCURRENCY: String(1 + stage.prng.int(4)) };
    // Now and then a short resume window, so that runs left behind are closed as abandoned too.
    if (stage.prng.next() < 0.15) env.SYNC_RESUME_WITHIN_MS = '3000';
    target = stage.processes.spawn('sync', ['sync', '--json', ...mode], env);
    f.count(f.launched, `sync${mode.length ? ' --incremental' : ''}`);
  } else {
    target = stage.worker();
    const trigger = stage.processes.spawn('trigger', ['trigger', '--json'], stage.workerEnv);
    f.count(f.launched, 'trigger');
    const timer = setTimeout(() => trigger.kill('SIGKILL', 'trigger hung'), 20_000);
    await trigger.closed;
    clearTimeout(timer);
  }
  f.count(f.disruptions, `${executor}: ${disruption}`);
  const over = { done: false };
  const struck = disrupt(stage, disruption, target, since, over).catch(() => false);
  await ended(stage, target, since, 150_000);
  over.done = true;
  if (!(await struck) && disruption !== 'none') f.count(f.disruptions, `${executor}: ${disruption} (missed, the run ended first)`);
  stage.changes.stop();
  if (target.kind === 'sync' && target.alive()) {
    target.kill('SIGKILL', 'hung');
    f.notes.push(`sync process ${target.id} did not end within 150 s and was killed`);
  }
  if (target.kind === 'sync') f.count(f.exits, exitLabel(target, await target.closed));
  if (target.kind === 'worker' && !target.alive()) {
    f.count(f.exits, `worker ${exitLabel(target, await target.closed)}`);
    await sleep(200 + stage.prng.int(3000));
    stage.respawnWorker();
  }
  const ran = Date.now() - began;
  await stage.checker.idle();
  const last = target.lines.filter((l) => /^sync (run|job) /.test(l.msg ?? '') && (l.time ?? 0) >= since).at(-1)?.msg ?? '-';
  const line = (
    `episode ${n}: ${executor}, ${disruption}; waited ${waited} ms, ran ${ran} ms, checked ${Date.now() - began - ran} ms; ${last.slice(0, 100)}\n`
  );
  process.stderr.write(line);
  stage.log?.write(`===== ${line}`);
}

function exitLabel(proc: Proc, exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  if (exit.signal) return `killed (${exit.signal})`;
  return `exit ${exit.code}`;
}

/** Until the target's run ended (a line saying so, after `since`) or the target died. */
async function ended(stage: Stage, target: Proc, since: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const done = (line: { msg?: string; time?: number }) =>
    (line.time ?? 0) >= since &&
    /^(sync run (succeeded|failed|interrupted|incomplete)|sync job (skipped|failed))/.test(line.msg ?? '');
  while (Date.now() < deadline && target.alive()) {
    if (target.kind === 'worker' && target.lines.some(done)) return;
    await sleep(50);
  }
  if (target.kind === 'sync') await Promise.race([target.closed, sleep(Math.max(0, deadline - Date.now()))]);
}

/** Until no process is on a run (the worker may be finishing one of its own), within `timeoutMs`. */
async function quiescent(stage: Stage, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && stage.processes.all.some((p) => stage.processes.openAttempt(p) !== undefined)) await sleep(100);
}
