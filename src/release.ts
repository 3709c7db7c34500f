// Which release of account-sync this process is: the package's version, and the commit it was
// built from when the build recorded one. scripts/production-tree.sh (the image's recipe too)
// writes that commit into dist/build-info.json; a tree built otherwise, or run from source, has
// none, and says so rather than guess.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Release {
  version: string;
  /** The full commit hash the build recorded; null when it recorded none. */
  commit: string | null;
}

/** Written by scripts/production-tree.sh beside the compiled modules: `{"commit": "<hash>" | null}`. */
export const BUILD_INFO_FILE = 'build-info.json';

let current: Release | undefined;

/** This process's release; read once. package.json sits one level above both src/ and dist/. */
export function currentRelease(): Release {
  current ??= readRelease(new URL('../package.json', import.meta.url), new URL(`./${BUILD_INFO_FILE}`, import.meta.url));
  return current;
}

export function readRelease(packageJson: URL, buildInfo: URL): Release {
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version?: unknown };
  if (typeof version !== 'string' || version === '') throw new Error(`${fileURLToPath(packageJson)} has no version`);
  let text: string;
  try {
    text = readFileSync(buildInfo, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version, commit: null };
    throw error;
  }
  const { commit } = JSON.parse(text) as { commit?: unknown };
  return { version, commit: typeof commit === 'string' && /^[0-9a-f]{7,64}$/.test(commit) ? commit : null };
}

/** For people: "0.2.0 (commit 0123…)" or "0.2.0 (unknown commit)". */
export function describeRelease(release: Release): string {
  return `${release.version} (${release.commit === null ? 'unknown commit' : `commit ${release.commit}`})`;
}

/** For rows (sync_runs.release): the version, with the commit as semver build metadata when known. */
export function releaseTag(release: Release): string {
  return release.commit === null ? release.version : `${release.version}+${release.commit}`;
}
