// Tests spawn dist/cli.js, so dist/ must be built from the sources under test: a test run
// against a stale build would pass or fail for code that is no longer there.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUILT_CLI = join(ROOT, 'dist', 'cli.js');

type Run = (command: string, args: string[]) => void;

/** Runs `npm run build` when any source, asset or the Prisma schema is newer than dist/cli.js. */
export function buildIfStale(run: Run): void {
  const built = modifiedAt(BUILT_CLI);
  const inputs = [join(ROOT, 'src'), join(ROOT, 'prisma', 'schema.prisma'), join(ROOT, 'tsconfig.json')];
  if (built !== undefined && !inputs.some((input) => newestUnder(input) > built)) return;
  run('npm', ['run', '--silent', 'build', '--prefix', ROOT]);
}

function modifiedAt(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

function newestUnder(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestUnder(join(path, entry)));
  return newest;
}
