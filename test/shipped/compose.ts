// docker-compose.yml rehearsed without Docker: Debian's docker-compose validates the file and
// prints it resolved; each application service (one built from the Dockerfile) is planned to run
// with its own entrypoint, command and environment as a process of the production tree
// (rehearsal.ts runs the plans: in depends_on order, until healthy as its healthcheck says, or,
// for a one-shot without a healthcheck, exited 0).
//
// What the containers would find by name is pointed at this machine: postgres at the test
// PostgreSQL (a database of the rehearsal's own), redis at a redis-server of its own, an
// application service's published ports at free local ports (in its own settings, flags and
// healthcheck too, so a port setting that is not honoured fails its healthcheck), named volumes at
// temporary directories. Every variable a service sets must be a setting the command it runs
// reads: a renamed one would otherwise be ignored in silence. Anything else the file asks for
// that the rehearsal cannot honour fails it.
import { execFile } from 'node:child_process';
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
  /** As `docker-compose config` prints them: objects, or short syntax with a host address ("127.0.0.1:9466:9466/tcp"). */
  ports?: Array<{ published: number; target: number } | string>;
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

const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`]+/g;

/**
 * What a service's strings (environment, entrypoint, command, healthcheck) say about its
 * neighbours, rewritten into where they are here; throws on a URL that would still name a service.
 */
/** The container port a published port maps to. */
function portTarget(service: string, port: { published: number; target: number } | string): number {
  if (typeof port === 'object') return port.target;
  // [host address:][published:]target[/protocol]
  const target = Number(/(?:^|:)(\d+)(?:\/\w+)?$/.exec(port)?.[1]);
  if (!Number.isInteger(target)) throw new Error(`${service}: cannot read the port ${JSON.stringify(port)}`);
  return target;
}

function localizer(compose: ComposeFile, apps: Array<[string, ComposeService]>, around: Surroundings) {
  const names = new Set(Object.keys(compose.services));
  const ports = new Map<string, number>();
  const free = [...around.freePorts];
  for (const [name, service] of apps) {
    for (const port of service.ports ?? []) ports.set(`${name}:${portTarget(name, port)}`, free.shift() ?? Number.NaN);
  }
  const rewriteUrl = (href: string): string => {
    const url = new URL(href);
    const neighbour = compose.services[url.hostname];
    if (!neighbour) return href;
    let local: URL;
    if (neighbour.image?.startsWith('postgres:')) {
      local = new URL(around.databaseUrl);
      local.search = url.search;
    } else if (neighbour.image?.startsWith('redis:')) {
      local = new URL(around.redisUrl);
    } else {
      const mapped = ports.get(`${url.hostname}:${url.port}`);
      if (mapped === undefined) throw new Error(`${href}: ${url.hostname} publishes no port ${url.port}`);
      local = new URL(href);
      local.hostname = '127.0.0.1';
      local.port = String(mapped);
    }
    // URL adds a / to a bare origin; keep the text as it was written otherwise.
    return href.endsWith('/') ? local.href : local.href.replace(/\/$/, '');
  };
  const volumeDirs = new Map<string, string>();
  return (name: string, service: ComposeService) => {
    // The service's own published ports, wherever it names them (its settings, flags, healthcheck).
    const own = [...ports].filter(([key]) => key.startsWith(`${name}:`)).map(([key, port]) => [key.slice(name.length + 1), String(port)] as const);
    const mounts: Array<[string, string]> = [];
    for (const volume of service.volumes ?? []) {
      const [source, target] = volume.split(':');
      if (!source || !target || source.startsWith('/') || source.startsWith('.')) throw new Error(`${name}: only named volumes are rehearsed, not ${volume}`);
      if (!volumeDirs.has(source)) volumeDirs.set(source, join(around.volumesDir, source));
      mounts.push([target, volumeDirs.get(source)!]);
    }
    const local = (text: string): string => {
      let out = text.replace(URL_PATTERN, rewriteUrl);
      for (const [target, dir] of mounts) out = out.replaceAll(target, dir);
      for (const [target, port] of own) out = out.replace(new RegExp(`(?<![\\w.])${target}(?![\\w.])`, 'g'), port);
      for (const href of out.match(URL_PATTERN) ?? []) if (names.has(new URL(href).hostname)) throw new Error(`${name}: ${href} still names a service`);
      return out;
    };
    return { local, volumes: mounts.map(([, dir]) => dir) };
  };
}

/** How each application service (built from the Dockerfile) runs here, or why it cannot. */
export function planServices(compose: ComposeFile, image: ImageConfig, around: Surroundings): ServicePlan[] {
  const apps = Object.entries(compose.services).filter(([, s]) => s.build !== undefined && s.profiles === undefined);
  const localize = localizer(compose, apps, around);
  return apps.map(([name, service]) => {
    for (const key of Object.keys(service)) if (!APP_KEYS.has(key)) throw new Error(`${name}: the rehearsal does not know how to honour "${key}"`);
    const { local, volumes } = localize(name, service);
    const list = (value: string[] | string | undefined): string[] | undefined =>
      value === undefined ? undefined : typeof value === 'string' ? ['/bin/sh', '-c', value] : value;
    // As Compose: an entrypoint of the service replaces the image's, and the image's CMD with it.
    const entrypoint = list(service.entrypoint);
    const argv = (entrypoint ? [...entrypoint, ...(list(service.command) ?? [])] : [...image.entrypoint, ...(list(service.command) ?? image.cmd)]).map(local);
    const environment = Object.entries(service.environment ?? {});
    const script = argv.join(' ');
    return {
      name,
      argv,
      env: { ...image.env, ...Object.fromEntries(environment.map(([key, value]) => [key, local(value ?? '')])) },
      commands: [...script.matchAll(/\bdist\/cli\.js\s+([a-z][a-z-]*)/g)].map((m) => m[1]!),
      sets: [...environment.map(([key]) => key), ...[...script.matchAll(/\bexport\s+([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!)],
      healthcheck: healthcheckOf(name, service.healthcheck, local),
      dependsOn: Object.entries(service.depends_on ?? {}).map(([dep, { condition }]) => {
        if (!CONDITIONS.has(condition)) throw new Error(`${name}: depends_on condition ${condition} is not rehearsed`);
        return { service: dep, condition };
      }),
      stopGraceMs: durationMs(service.stop_grace_period, 10_000),
      volumes,
    };
  });
}

function healthcheckOf(name: string, check: Healthcheck | undefined, local: (text: string) => string): ServicePlan['healthcheck'] {
  if (!check) return undefined;
  const test = typeof check.test === 'string' ? ['CMD-SHELL', check.test] : check.test;
  if (test[0] !== 'CMD' && test[0] !== 'CMD-SHELL') throw new Error(`${name}: healthcheck ${test[0]} is not rehearsed`);
  return {
    argv: (test[0] === 'CMD' ? test.slice(1) : ['/bin/sh', '-c', test[1]!]).map(local),
    // Docker's defaults.
    intervalMs: durationMs(check.interval, 30_000),
    timeoutMs: durationMs(check.timeout, 30_000),
    retries: check.retries ?? 3,
    startPeriodMs: durationMs(check.start_period, 0),
  };
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

