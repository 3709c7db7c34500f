// docker-compose.yml rehearsed without Docker: Debian's docker-compose validates the file and
// prints it resolved; each application service (one built from the Dockerfile) then runs with its
// own entrypoint, command and environment as processes of the production tree, in the order and
// under the conditions its depends_on says, until it is healthy as its healthcheck says, or, for a
// one-shot without a healthcheck, has exited 0.
//
// What the containers would find by name is pointed at this machine: postgres at the test
// PostgreSQL (a database of the rehearsal's own), redis at a redis-server of its own, an
// application service's published ports at free local ports (in its own settings, flags and
// healthcheck too, so a port setting that is not honoured fails its healthcheck), named volumes at
// temporary directories. Every variable a service sets must be a setting the command it runs
// reads: a renamed one would otherwise be ignored in silence. Anything else the file asks for
// that the rehearsal cannot honour fails it.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { ImageConfig } from './image.js';

const exec = promisify(execFile);

interface Healthcheck {
  test: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

export interface ComposeService {
  build?: unknown;
  image?: string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: Healthcheck;
  volumes?: string[];
  ports?: Array<{ published: number; target: number }>;
  restart?: string;
  stop_grace_period?: string;
  profiles?: string[];
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** `docker-compose config` of the compose file in `dir`: validated, and resolved as Compose reads it. */
export async function composeConfig(dir: string, file = 'docker-compose.yml'): Promise<ComposeFile> {
  const { stdout } = await exec('docker-compose', ['--project-directory', dir, '-f', join(dir, file), 'config'], { cwd: dir });
  return parse(stdout) as ComposeFile;
}

const APP_KEYS = new Set(['build', 'command', 'entrypoint', 'environment', 'depends_on', 'healthcheck', 'volumes', 'ports', 'restart', 'stop_grace_period']);
const CONDITIONS = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);

/** Where the containers' neighbours are on this machine. */
export interface Surroundings {
  /** The test server; a postgres URL keeps its database name's place: the rehearsal's database goes there. */
  databaseUrl: string;
  redisUrl: string;
  /** Free local ports, as many as the application services publish. */
  freePorts: number[];
  /** Directory the named volumes are made in. */
  volumesDir: string;
}

export interface ServicePlan {
  name: string;
  argv: string[];
  env: Record<string, string>;
  /** The account-sync commands it runs (`node dist/cli.js <command>`). */
  commands: string[];
  /** The variables it sets: its environment and what its entrypoint exports. */
  sets: string[];
  healthcheck?: { argv: string[]; intervalMs: number; timeoutMs: number; retries: number; startPeriodMs: number };
  dependsOn: Array<{ service: string; condition: string }>;
  stopGraceMs: number;
  volumes: string[];
}

export function durationMs(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) throw new Error(`cannot read the duration "${text}"`);
  const unit: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

/** How each application service runs here, or why it cannot. */
export function planServices(compose: ComposeFile, image: ImageConfig, around: Surroundings): ServicePlan[] {
  const services = Object.entries(compose.services).filter(([, s]) => s.build !== undefined && s.profiles === undefined);
  const names = new Set(Object.keys(compose.services));
  const ports = new Map<string, number>();
  const free = [...around.freePorts];
  for (const [name, service] of services) {
    for (const port of service.ports ?? []) {
      if (typeof port !== 'object') throw new Error(`${name}: cannot read the port ${JSON.stringify(port)}`);
      ports.set(`${name}:${port.target}`, free.shift() ?? Number.NaN);
    }
  }
  const volumeDirs = new Map<string, string>();
  const rewriteUrl = (url: URL): URL => {
    const host = url.hostname;
    if (!names.has(host)) return url;
    const service = compose.services[host]!;
    if (service.image?.startsWith('postgres:')) {
      const local = new URL(around.databaseUrl);
      local.search = url.search;
      return local;
    }
    if (service.image?.startsWith('redis:')) return new URL(around.redisUrl);
    const mapped = ports.get(`${host}:${url.port}`);
    if (mapped === undefined) throw new Error(`${url.href}: ${host} publishes no port ${url.port}`);
    const local = new URL(url.href);
    local.hostname = '127.0.0.1';
    local.port = String(mapped);
    return local;
  };

  return services.map(([name, service]) => {
    for (const key of Object.keys(service)) if (!APP_KEYS.has(key)) throw new Error(`${name}: the rehearsal does not know how to honour "${key}"`);
    const own = [...ports].filter(([key]) => key.startsWith(`${name}:`)).map(([key, port]) => [key.slice(name.length + 1), String(port)] as const);
    const mounts: Array<[string, string]> = [];
    for (const volume of service.volumes ?? []) {
      const [source, target] = volume.split(':');
      if (!source || !target || source.startsWith('/') || source.startsWith('.')) throw new Error(`${name}: only named volumes are rehearsed, not ${volume}`);
      if (!volumeDirs.has(source)) volumeDirs.set(source, join(around.volumesDir, source));
      mounts.push([target, volumeDirs.get(source)!]);
    }
    const local = (text: string): string => {
      let out = text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`]+/g, (href) => rewriteUrl(new URL(href)).href.replace(/\/$/, href.endsWith('/') ? '/' : ''));
      for (const [target, dir] of mounts) out = out.replaceAll(target, dir);
      for (const [target, port] of own) out = out.replace(new RegExp(`(?<![\\w.])${target}(?![\\w.])`, 'g'), port);
      for (const href of out.match(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`]+/g) ?? []) {
        if (names.has(new URL(href).hostname)) throw new Error(`${name}: ${href} still names a service`);
      }
      return out;
    };
    const list = (value: string[] | string | undefined): string[] | undefined =>
      value === undefined ? undefined : typeof value === 'string' ? ['/bin/sh', '-c', value] : value;
    const entrypoint = list(service.entrypoint);
    const argv = (entrypoint ? [...entrypoint, ...(list(service.command) ?? [])] : [...image.entrypoint, ...(list(service.command) ?? image.cmd)]).map(local);
    const environment = Object.entries(service.environment ?? {});
    const env = { ...image.env, ...Object.fromEntries(environment.map(([key, value]) => [key, local(value ?? '')])) };
    const script = argv.join(' ');
    const exported = [...script.matchAll(/\bexport\s+([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
    const check = service.healthcheck;
    const test = check ? (typeof check.test === 'string' ? ['CMD-SHELL', check.test] : check.test) : undefined;
    if (test && test[0] !== 'CMD' && test[0] !== 'CMD-SHELL') throw new Error(`${name}: healthcheck ${test[0]} is not rehearsed`);
    const dependsOn = Object.entries(service.depends_on ?? {}).map(([dep, { condition }]) => {
      if (!CONDITIONS.has(condition)) throw new Error(`${name}: depends_on condition ${condition} is not rehearsed`);
      return { service: dep, condition };
    });
    return {
      name,
      argv,
      env,
      commands: [...script.matchAll(/\bdist\/cli\.js\s+([a-z][a-z-]*)/g)].map((m) => m[1]!),
      sets: [...environment.map(([key]) => key), ...exported],
      healthcheck: test && {
        argv: (test[0] === 'CMD' ? test.slice(1) : ['/bin/sh', '-c', test[1]!]).map(local),
        intervalMs: durationMs(check!.interval, 30_000),
        timeoutMs: durationMs(check!.timeout, 30_000),
        retries: check!.retries ?? 3,
        startPeriodMs: durationMs(check!.start_period, 0),
      },
      dependsOn,
      stopGraceMs: durationMs(service.stop_grace_period, 10_000),
      volumes: mounts.map(([, dir]) => dir),
    };
  });
}

/** The settings each command reads, from the tree's own src/config (compiled): section by section. */
export async function declaredSettingsOf(tree: string): Promise<Record<string, string[]>> {
  const script = `
    const config = await import('./dist/config/index.js');
    const bySection = {};
    for (const { name, section } of config.declaredSettings()) (bySection[section] ??= []).push(name);
    const out = {};
    // Every command reads its sections, and the CLI reads the runtime section before any command.
    for (const [command, sections] of Object.entries(config.COMMAND_SECTIONS)) out[command] = [...sections, 'runtime'].flatMap((s) => bySection[s] ?? []);
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: tree });
  return JSON.parse(stdout) as Record<string, string[]>;
}

/** Variables a service sets that the commands it runs do not read, as "service: NAME ...". */
export function unreadSettings(plans: ServicePlan[], declared: Record<string, string[]>): string[] {
  const problems: string[] = [];
  for (const plan of plans) {
    if (plan.commands.length === 0) problems.push(`${plan.name}: runs no account-sync command`);
    for (const command of plan.commands) {
      const reads = declared[command];
      if (!reads) {
        problems.push(`${plan.name}: account-sync has no command "${command}"`);
        continue;
      }
      for (const name of plan.sets) {
        if (!reads.includes(name)) problems.push(`${plan.name}: ${name} is not a setting that \`account-sync ${command}\` reads`);
      }
    }
  }
  return problems;
}

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
