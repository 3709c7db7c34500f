// Runs the services compose.ts planned, as Compose would: each once those it depends on meet
// their condition, probed by its healthcheck at its interval until healthy (or failed `retries`
// times), a one-shot awaited to its exit; then the rest stopped in reverse order with SIGTERM.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServicePlan } from './compose.js';

interface Running {
  plan: ServicePlan;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface RehearsalReport {
  /** Services in the order they started. */
  started: string[];
  healthy: string[];
  /** Those that ended by themselves with exit 0 (the one-shots). */
  completed: string[];
  /** Those stopped at the end, in that order. */
  stopped: string[];
}

/** The plans, each after those it depends on; fails on a cycle. */
function startOrder(plans: ServicePlan[]): ServicePlan[] {
  const byName = new Map(plans.map((p) => [p.name, p]));
  const ordered: ServicePlan[] = [];
  const visiting = new Set<string>();
  const visit = (plan: ServicePlan) => {
    if (ordered.includes(plan)) return;
    if (visiting.has(plan.name)) throw new Error(`depends_on has a cycle through ${plan.name}`);
    visiting.add(plan.name);
    for (const dep of plan.dependsOn) {
      const other = byName.get(dep.service);
      if (other) visit(other);
    }
    ordered.push(plan);
  };
  plans.forEach(visit);
  return ordered;
}

/**
 * Runs every planned service from `tree` until each is healthy (or, without a healthcheck, has
 * exited 0), then stops those still running in reverse order and expects each to exit 0 within
 * its stop_grace_period. Rejects with the failing service's output; stops everything either way.
 */
export async function rehearse(plans: ServicePlan[], tree: string, log: (line: string) => void): Promise<RehearsalReport> {
  const report: RehearsalReport = { started: [], healthy: [], completed: [], stopped: [] };
  const running = new Map<string, Running>();
  const conditions = new Map<string, Record<string, Promise<unknown>>>();
  let failed = false;
  let stopping = false;
  const fail = (message: string, of?: Running): Error => {
    failed = true;
    return new Error(of ? `${message}\n--- ${of.plan.name}'s output:\n${of.output().slice(-4000)}` : message);
  };
  /** Marked handled at once: a condition nobody waits for must not fail the process; the one awaited still rejects. */
  const handled = <T>(promise: Promise<T>) => {
    promise.catch(() => undefined);
    return promise;
  };

  const start = async (plan: ServicePlan): Promise<Running> => {
    for (const dir of plan.volumes) await mkdir(dir, { recursive: true });
    // postgres and redis are this machine's own, up already; the others are in `conditions` by now.
    for (const dep of plan.dependsOn) await conditions.get(dep.service)?.[dep.condition];
    if (failed) throw new Error(`${plan.name}: not started, another service failed`);
    const child = spawn(plan.argv[0]!, plan.argv.slice(1), { cwd: tree, env: { PATH: process.env.PATH, ...plan.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const service = { plan, child, output: () => output, exited };
    running.set(plan.name, service);
    report.started.push(plan.name);
    log(`${plan.name}: started: ${plan.argv.join(' ').slice(0, 200)}`);
    return service;
  };
  for (const plan of startOrder(plans)) {
    const started = handled(start(plan));
    conditions.set(plan.name, {
      service_started: started,
      service_healthy: handled(
        started.then(async (service) => {
          await untilHealthy(service, fail, log);
          report.healthy.push(plan.name);
        }),
      ),
      service_completed_successfully: handled(
        started.then(async (service) => {
          const code = await service.exited;
          if (code !== 0) throw fail(`${plan.name} exited with ${code}`, service);
          if (!stopping) report.completed.push(plan.name);
        }),
      ),
    });
  }
  try {
    // Up: healthy as its healthcheck says; a service without one is a one-shot that must end well.
    await Promise.all(plans.map((plan) => conditions.get(plan.name)![plan.healthcheck ? 'service_healthy' : 'service_completed_successfully']));
    stopping = true;
    for (const name of [...report.started].reverse()) {
      const service = running.get(name)!;
      if (service.child.exitCode !== null) continue;
      service.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([service.exited, new Promise((resolve) => (timer = setTimeout(resolve, service.plan.stopGraceMs, 'timeout')))]);
      clearTimeout(timer);
      if (code !== 0) throw fail(`${name} did not stop cleanly on SIGTERM within its stop_grace_period (${String(code)})`, service);
      report.stopped.push(name);
    }
    return report;
  } finally {
    failed = true;
    for (const service of running.values()) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await Promise.all([...running.values()].map((s) => s.exited));
  }
}

async function untilHealthy(service: Running, fail: (message: string, of?: Running) => Error, log: (line: string) => void): Promise<void> {
  const check = service.plan.healthcheck;
  if (!check) throw new Error(`${service.plan.name} has no healthcheck`);
  let exited = false;
  void service.exited.then(() => (exited = true));
  const begun = Date.now();
  let failures = 0;
  for (;;) {
    // As Docker: the first probe one interval after the start, then one per interval.
    const wait = new Promise((resolve) => setTimeout(resolve, check.intervalMs));
    await Promise.race([wait, service.exited]);
    if (exited) throw fail(`${service.plan.name} exited with ${service.child.exitCode} before it was healthy`, service);
    const ok = await probe(check.argv, service.plan.env, check.timeoutMs);
    if (ok) {
      log(`${service.plan.name}: healthy after ${((Date.now() - begun) / 1000).toFixed(1)} s`);
      return;
    }
    if (Date.now() - begun > check.startPeriodMs) failures++;
    if (failures >= check.retries) throw fail(`${service.plan.name} was unhealthy: ${check.retries} failed healthchecks (${check.argv.join(' ')})`, service);
  }
}

function probe(argv: string[], env: Record<string, string>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH, ...env }, timeout: timeoutMs }, (error) => resolve(error === null));
  });
}

/** A directory for the named volumes, removed with `cleanup`. */
export async function volumesDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'account-sync-compose-volumes-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
