// Which release a process is: the package's version, and the commit the build recorded in
// dist/build-info.json (scripts/production-tree.sh writes it), as --version, /metrics, the status
// page and sync_runs.release show them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { describeRelease, readRelease, releaseTag } from '../../src/release.js';

const dir = mkdtempSync(join(tmpdir(), 'account-sync-release-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return pathToFileURL(join(dir, name));
};
const COMMIT = '0123456789abcdef0123456789abcdef01234567';

describe('the release', () => {
  const pkg = file('package.json', JSON.stringify({ name: 'account-sync', version: '1.2.3' }));

  it('is the version with the recorded commit', () => {
    const release = readRelease(pkg, file('with-commit.json', JSON.stringify({ commit: COMMIT })));
    expect(release).toEqual({ version: '1.2.3', commit: COMMIT });
    expect(describeRelease(release)).toBe(`1.2.3 (commit ${COMMIT})`);
    expect(releaseTag(release)).toBe(`1.2.3+${COMMIT}`);
  });

  it('has no commit when the build recorded none, or none that reads as one', () => {
    for (const info of [pathToFileURL(join(dir, 'absent.json')), file('null.json', '{"commit":null}'), file('odd.json', '{"commit":"$(rm -rf)"}')]) {
      const release = readRelease(pkg, info);
      expect(release).toEqual({ version: '1.2.3', commit: null });
      expect([describeRelease(release), releaseTag(release)]).toEqual(['1.2.3 (unknown commit)', '1.2.3']);
    }
  });

  it('refuses a package.json without a version', () => {
    expect(() => readRelease(file('bare.json', '{}'), pathToFileURL(join(dir, 'absent.json')))).toThrow(/bare\.json has no version$/);
  });
});
