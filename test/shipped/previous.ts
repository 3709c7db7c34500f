// The previous release, pinned by its commit, built beside the production tree: `git archive`
// of that commit from the fresh clone, installed and built as its users ran it (0.1.0's own
// image could not run `sync`: pg-copy-streams was a devDependency, the bug 0.2.0 fixes; so a
// full install, as its README's `npm ci` gave), and run with `node dist/cli.js` like this one.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const PREVIOUS = {
  version: '0.1.0',
  commit: '365576a4f08428e2765be6b0ec3e0bad4e53632d',
  /** Its newest migration: every later one is this release's. */
  lastMigration: '20261130060000_fingerprint_listing',
};

type Packages = Record<string, { version?: string; integrity?: string; link?: boolean }>;

/** Whether lockfile `installed` pins every package lockfile `wanted` lists, at the same version and integrity. */
export function servesLockfile(wanted: Packages, installed: Packages): boolean {
  return Object.entries(wanted).every(
    ([path, entry]) => path === '' || (installed[path]?.version === entry.version && installed[path]?.integrity === entry.integrity),
  );
}

function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} failed (${code})`))));
  });
}

/** Builds the previous release into `dir` from the clone `context`; returns `dir`. */
export async function buildPrevious(context: string, dir: string, log: (line: string) => void): Promise<string> {
  await mkdir(dir, { recursive: true });
  const archive = join(dir, '..', `previous-${PREVIOUS.commit}.tar`);
  await exec('git', ['-C', context, 'archive', '--format=tar', '-o', archive, PREVIOUS.commit]);
  await exec('tar', ['-xf', archive, '-C', dir]);
  // CI has installed this checkout's dependencies already (npm ci, from its package-lock.json);
  // when the previous lockfile asks for nothing that one does not pin alike, they serve it too
  // (a minute saved), else it gets its own `npm ci`.
  const here = join(process.cwd(), 'node_modules');
  const wanted = (JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Packages }).packages;
  const current = join(process.cwd(), 'package-lock.json');
  const installed = existsSync(here) ? (JSON.parse(readFileSync(current, 'utf8')) as { packages: Packages }).packages : {};
  if (servesLockfile(wanted, installed)) {
    log(`previous release ${PREVIOUS.version}: its lockfile is served by ${here}`);
    await symlink(here, join(dir, 'node_modules'), 'dir');
  } else {
    log(`previous release ${PREVIOUS.version}: npm ci`);
    await run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], dir);
  }
  log(`previous release ${PREVIOUS.version}: npm run build`);
  await run('npm', ['run', 'build', '--silent'], dir);
  return dir;
}
