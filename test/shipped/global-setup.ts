// Builds what ships once for every file of the shipped check: a fresh clone of the committed
// tree (HEAD, as a new user would get it), from which the Dockerfile is carried out
// (image.ts): its build stage runs scripts/production-tree.sh, its final stage copies the
// result. Uncommitted changes are not in it: commit, then check.
//
// SHIPPED_REUSE=<dir> reuses the build a previous run kept there (SHIPPED_KEEP=1 keeps one),
// for working on the checks themselves; CI always builds afresh.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';
import { buildImage } from './image.js';
import type { ShippedBuild } from './support.js';

const exec = promisify(execFile);
const git = async (cwd: string, ...args: string[]) => (await exec('git', args, { cwd, maxBuffer: 1 << 26 })).stdout.trim();
const log = (line: string) => process.stderr.write(`[shipped] ${line}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const reuse = process.env.SHIPPED_REUSE;
  if (reuse && existsSync(join(reuse, 'build.json'))) {
    const build = JSON.parse(await readFile(join(reuse, 'build.json'), 'utf8')) as ShippedBuild;
    log(`reusing the build of ${build.commit} in ${reuse}`);
    project.provide('shipped', build);
    return async () => undefined;
  }

  const repo = await git(process.cwd(), 'rev-parse', '--show-toplevel');
  const commit = await git(repo, 'rev-parse', 'HEAD');
  if ((await git(repo, 'status', '--porcelain', '--untracked-files=no')) !== '') {
    log('the working tree has uncommitted changes: they are not in what is checked (HEAD is)');
  }
  const work = await mkdtemp(join(tmpdir(), 'account-sync-shipped-'));
  const context = join(work, 'clone');
  const started = Date.now();
  await git(work, 'clone', '--quiet', '--no-checkout', repo, context);
  await git(context, 'checkout', '--quiet', '--detach', commit);
  log(`building the image's tree from a fresh clone of ${commit} in ${work}`);
  const image = await buildImage({ context, into: join(work, 'image'), buildArgs: { ACCOUNT_SYNC_COMMIT: commit }, log });
  log(`built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${image.root}`);

  const build: ShippedBuild = { tree: image.root, image: image.config, context, commit, work };
  await writeFile(join(work, 'build.json'), JSON.stringify(build));
  project.provide('shipped', build);
  return async () => {
    if (process.env.SHIPPED_KEEP) log(`kept in ${work} (SHIPPED_REUSE=${work} reuses it)`);
    else await rm(work, { recursive: true, force: true });
  };
}
