// No two folders of src/ import each other: each folder is a layer or a concern with an owner,
// and a cycle means one of them reaches into what the other owns.
import { describe, expect, it } from 'vitest';
import { folderOf, importsOf, sourceFiles } from './sources.js';

/** "a -> b": the imports from folder a into folder b, as "file -> file". */
function folderEdges(): Map<string, string[]> {
  const edges = new Map<string, string[]>();
  for (const file of sourceFiles()) {
    const from = folderOf(file.path);
    for (const target of importsOf(file)) {
      const to = folderOf(target);
      if (from === null || to === null || from === to || !target.startsWith('src/')) continue;
      const key = `${from} -> ${to}`;
      edges.set(key, [...(edges.get(key) ?? []), `${file.path} -> ${target}`]);
    }
  }
  return edges;
}

describe('the folders of src/', () => {
  it('reads imports of every kind (a check that the test sees what it should)', () => {
    const edges = folderEdges();
    expect(edges.get('commands -> config')?.length).toBeGreaterThan(0);
    expect(edges.get('sync -> runs')?.length).toBeGreaterThan(0);
  });

  it('do not import each other', () => {
    const edges = folderEdges();
    const cycles: string[] = [];
    for (const [key, imports] of edges) {
      const [from, to] = key.split(' -> ') as [string, string];
      const back = edges.get(`${to} -> ${from}`);
      if (from < to && back) {
        cycles.push(`${from} and ${to} import each other:\n  ${[...imports, ...back].join('\n  ')}`);
      }
    }
    expect(cycles.join('\n')).toBe('');
  });
});
