// Everything under src/ ships (compiled into dist/), and the production tree has only the
// packages in package.json's `dependencies`: a module that needs a devDependency, or a package
// that is only optional (pruned with --omit=optional) or only there by way of another package,
// works in every test and fails for users at load time. This reads what each module imports
// once compiled (type-only imports are erased by then) and holds it to `dependencies`.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

/** The package a bare specifier names ('@scope/name/sub' -> '@scope/name'); null for relative, absolute and built-in ones. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const [first, second] = specifier.split('/');
  const name = first!.startsWith('@') ? `${first}/${second}` : first!;
  return builtinModules.includes(name) ? null : name;
}

/**
 * The modules a file loads at run time: static imports and re-exports that survive
 * compilation, `import('...')`, `require('...')` and `require.resolve('...')`. A dynamic import
 * of something other than a string literal cannot be checked, and is reported as such.
 */
function runtimeSpecifiers(fileName: string, source: string): string[] {
  const js = ts.transpileModule(source, {
    fileName,
    compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2023, verbatimModuleSyntax: false },
  }).outputText;
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const loads =
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === 'require') ||
        (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'require' && callee.name.text === 'resolve');
      if (loads) {
        const [argument] = node.arguments;
        found.push(argument && ts.isStringLiteralLike(argument) ? argument.text : `<not a literal: ${node.getText()}>`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(ts.createSourceFile(`${fileName}.js`, js, ts.ScriptTarget.ES2023, true));
  return found;
}

const shipped = readdirSync('src', { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
  .map((file) => join('src', file))
  .sort();

describe('what ships', () => {
  it('imports only packages listed in dependencies (not dev-only, not optional-only), and node: built-ins', () => {
    const listed = new Set(Object.keys(manifest.dependencies ?? {}));
    const offending: string[] = [];
    for (const file of shipped) {
      for (const specifier of runtimeSpecifiers(file, readFileSync(file, 'utf8'))) {
        if (specifier.startsWith('<')) {
          offending.push(`${file}: ${specifier}`);
          continue;
        }
        const name = packageOf(specifier);
        if (name !== null && !listed.has(name)) offending.push(`${file}: ${specifier}`);
      }
    }
    expect(offending).toEqual([]);
    // The generated Prisma client ships too, and is read here: `npm ci` generates it.
    expect(shipped).toContain(join('src', 'generated', 'prisma', 'client.ts'));
  });

  it('reads type-only imports as erased, and every other kind of load as one', () => {
    const source = [
      "import type { Pool } from 'pg';",
      "import { type Logger } from 'pino';",
      "import { Registry } from 'prom-client';",
      "import { z } from 'zod';",
      "import './local.js';",
      "import { readFileSync } from 'node:fs';",
      "import { join } from 'path';",
      "export { got } from 'got';",
      "export type { Options } from 'p-retry';",
      "const require = createRequire(import.meta.url);",
      "require.resolve('uplot/dist/uPlot.min.css');",
      "require('ioredis');",
      "await import('@bull-board/api/bullMQAdapter');",
      "await import(name);",
      'export const schema: Pool | Logger = z.string() as never; new Registry(); readFileSync; join;',
    ].join('\n');
    const specifiers = runtimeSpecifiers('example.ts', source);
    expect(specifiers).toEqual([
      'prom-client',
      'zod',
      './local.js',
      'node:fs',
      'path',
      'got',
      'uplot/dist/uPlot.min.css',
      'ioredis',
      '@bull-board/api/bullMQAdapter',
      '<not a literal: import(name)>',
    ]);
    expect(specifiers.map(packageOf)).toEqual(['prom-client', 'zod', null, null, null, 'got', 'uplot', 'ioredis', '@bull-board/api', '<not a literal: import(name)>']);
  });
});
