// One owner for a run's life (src/runs/lifecycle.ts): only its statement files write sync_runs
// and sync_run_pages, and only it imports them. The walk and the page writes ask it; they change
// neither the rows nor the OpenRun (readonly outside the owner, which the compiler checks).
import { describe, expect, it } from 'vitest';
import { importsOf, sourceFiles } from './sources.js';

const OWNER = 'src/runs/lifecycle.ts';
const STATEMENTS = ['src/runs/sql/run-writes.ts', 'src/runs/sql/page-writes.ts'];

/** SQL that writes either table, or a write through the Prisma client's models of them. */
const WRITES = [
  /\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?|COPY|ALTER\s+TABLE|MERGE\s+INTO)\s+(?:ONLY\s+)?(?:"?public"?\.)?"?(sync_runs|sync_run_pages)"?\b/gi,
  /\.(syncRun|syncRunPage)\s*\.\s*(create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany)\b/g,
];

function writesOf(text: string): string[] {
  return WRITES.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[0].replace(/\s+/g, ' ')));
}

describe("a run's owner", () => {
  it('finds the writes it looks for (a check that the test sees what it should)', () => {
    const found = sourceFiles()
      .filter((file) => STATEMENTS.includes(file.path))
      .flatMap((file) => writesOf(file.text));
    expect(found).toEqual(expect.arrayContaining(['INSERT INTO sync_runs', 'UPDATE sync_runs', 'INSERT INTO sync_run_pages', 'DELETE FROM sync_run_pages']));
    expect(writesOf('await prisma.syncRun.update({})')).toEqual(['.syncRun.update']);
  });

  it('is the only code whose statements write sync_runs and sync_run_pages', () => {
    const elsewhere = sourceFiles()
      .filter((file) => !STATEMENTS.includes(file.path))
      .flatMap((file) => writesOf(file.text).map((write) => `${file.path}: ${write}`));
    expect(elsewhere).toEqual([]);
  });

  it('is the only importer of those statements', () => {
    const importers = sourceFiles()
      .filter((file) => file.path !== OWNER && !STATEMENTS.includes(file.path))
      .flatMap((file) =>
        importsOf(file)
          .filter((target) => STATEMENTS.includes(target))
          .map((target) => `${file.path} -> ${target}`),
      );
    expect(importers).toEqual([]);
  });
});
