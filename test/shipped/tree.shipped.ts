// The production tree as the image holds it: only what the recipe leaves, the production
// dependencies and no other package, and a program that starts: --version names this release
// and commit, and every command answers --help.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/index.js';
import { parseDockerfile } from './image.js';
import { build, shippedRun, VERSION } from './support.js';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

describe('the production tree', () => {
  const { tree, commit, context } = build();

  it('holds dist/, prisma/, assets/, package.json and node_modules/, and nothing else', () => {
    expect(readdirSync(tree).sort()).toEqual(['assets', 'dist', 'node_modules', 'package.json', 'prisma']);
    expect(JSON.parse(readFileSync(join(tree, 'dist', 'build-info.json'), 'utf8'))).toEqual({ commit });
    expect(readdirSync(join(tree, 'prisma', 'migrations'))).toEqual(readdirSync(join(context, 'prisma', 'migrations')));
  });

  it("has every production package of the lockfile at its version, and not one that is dev-only or optional", () => {
    const lock = JSON.parse(readFileSync(join(context, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const installed = (path: string) => {
      const manifest = join(tree, path, 'package.json');
      return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : null;
    };
    const expected: Record<string, string | null> = {};
    const found: Record<string, string | null> = {};
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path === '' || entry.link) continue;
      const production = !(entry.dev || entry.optional || entry.devOptional);
      expected[path] = production ? entry.version! : null;
      found[path] = installed(path);
    }
    expect(found).toEqual(expected);
    // Among those absent: the ones the issue was about, and the build tools.
    for (const name of ['typescript', 'prisma', 'tsx', 'vitest', '@types/pg-copy-streams']) expect([name, found[`node_modules/${name}`]]).toEqual([name, null]);
    expect(found['node_modules/pg-copy-streams']).not.toBeNull();
  });

  it('says which release it is: --version and -V, with the commit the build recorded', async () => {
    for (const flag of ['--version', '-V']) {
      const result = await shippedRun([flag], {});
      expect(result).toMatchObject({ code: 0, stdout: `account-sync ${VERSION} (commit ${commit})\n`, stderr: '' });
    }
  });

  it.each(Object.keys(COMMANDS))('answers `%s --help` with its usage and exit 0, under NODE_ENV=production', async (name) => {
    const result = await shippedRun([name, '--help'], {});
    expect([result.code, result.stderr]).toEqual([0, '']);
    expect(result.stdout).toMatch(new RegExp(`^usage: account-sync ${name}\\b`));
  });

  it('answers --help, and has the same commands as the sources', async () => {
    const result = await shippedRun(['--help'], {});
    expect([result.code, result.stderr]).toEqual([0, '']);
    const listed = [...result.stdout.matchAll(/^ {2}([a-z-]+)\b/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(COMMANDS).sort());
  });
});

describe('the Dockerfile', () => {
  it('builds the image with the recipe, and copies its result whole: nothing else makes the tree', () => {
    const stages = parseDockerfile(readFileSync(join(build().context, 'Dockerfile'), 'utf8'));
    expect(stages.map((s) => s.name)).toEqual(['build', undefined]);
    const [buildStage, runtime] = stages;
    expect(buildStage!.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args)).toEqual([
      'ACCOUNT_SYNC_COMMIT="$ACCOUNT_SYNC_COMMIT" scripts/production-tree.sh /app',
    ]);
    expect(runtime!.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args)).toEqual(['--from=build /app ./']);
  });
});
