// Once per `npm test`: the built CLI is current (tests spawn dist/cli.js, the entry point users run),
// and one database holds every migration, so each test file's database is a copy of it rather
// than a fresh run of the migrator (about a second per database, a few hundred times).
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { buildIfStale } from './build.js';
import { createTemplateDatabase, dropTemplateDatabase } from './database.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildIfStale((command, args) => execFileSync(command, args, { stdio: 'inherit' }));
  const template = await createTemplateDatabase();
  project.provide('templateDatabase', template);
  return () => dropTemplateDatabase(template);
}

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}
