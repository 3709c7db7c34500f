// The project's own sources as the architecture tests read them: every .ts file under src/
// except the generated Prisma client, with the relative imports each makes.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));
const GENERATED = 'src/generated/';

export interface SourceFile {
  /** Relative to the repository, with forward slashes: src/sync/run.ts */
  path: string;
  text: string;
}

export function sourceFiles(): SourceFile[] {
  const files: SourceFile[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) {
        if (`${path}/` !== GENERATED) walk(path);
      } else if (path.endsWith('.ts')) files.push({ path, text: readFileSync(join(root, path), 'utf8') });
    }
  };
  walk('src');
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The source files this file imports or re-exports (static or dynamic), as paths like src/runs/lock.ts. */
export function importsOf(file: SourceFile): string[] {
  const specifiers = [
    ...file.text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]/gms),
    ...file.text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
    ...file.text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((match) => match[1]!);
  return specifiers
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(root, join(root, dirname(file.path), specifier)).split('\\').join('/').replace(/\.js$/, '.ts'));
}

/** The folder of src/ a file belongs to (its first level), or null for a file directly in src/. */
export function folderOf(path: string): string | null {
  const parts = path.split('/');
  return parts.length > 2 ? parts[1]! : null;
}
