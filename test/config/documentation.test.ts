// The settings are declared once, in src/config; docs/configuration.md and .env.example describe them for
// people. These tests keep the three in step: a setting added, removed or given a new default
// in code fails here until both documents say the same.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { declaredSettings } from '../../src/config/index.js';

const declared = declaredSettings();
const names = declared.map((d) => d.name);

/** docs/configuration.md's settings table: each variable with the first value its default column shows. */
function settingsTable(): Map<string, string> {
  const page = readFileSync('docs/configuration.md', 'utf8');
  const start = page.indexOf('\n## Settings\n');
  if (start < 0) throw new Error('docs/configuration.md has no "## Settings" section');
  const end = page.indexOf('\n## ', start + 1);
  const section = page.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const match of section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| ([^|]*) \|/gm)) {
    const shown = match[2]!.trim();
    rows.set(match[1]!, /^`([^`]*)`/.exec(shown)?.[1] ?? shown);
  }
  return rows;
}

/** .env.example's `NAME=value` lines. */
function envExample(): Map<string, string> {
  const matches = readFileSync('.env.example', 'utf8').matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm);
  return new Map([...matches].map((m) => [m[1]!, m[2]!]));
}

/** Declared settings a document leaves out, and settings it names that are not declared. */
function differences(documented: Map<string, string>) {
  return { missing: names.filter((name) => !documented.has(name)), unknown: [...documented.keys()].filter((name) => !names.includes(name)) };
}

describe('docs/configuration.md', () => {
  const table = settingsTable();

  it('lists every setting in its settings table, and no other', () => {
    expect(differences(table)).toEqual({ missing: [], unknown: [] });
  });

  it('shows each default as declared, and which settings are required', () => {
    const shown = declared.map(({ name }) => [name, table.get(name)]);
    const expected = declared.map(({ name, setting }) => [
      name,
      setting.default ?? (setting.kind === 'required' ? '(required)' : expect.stringMatching(/^\(.+\)$/)),
    ]);
    expect(shown).toEqual(expected);
  });
});

describe('.env.example', () => {
  const example = envExample();

  it('lists every setting, and no other', () => {
    expect(differences(example)).toEqual({ missing: [], unknown: [] });
  });

  it('shows each default as declared, and leaves optional settings empty', () => {
    for (const { name, setting } of declared) {
      if (setting.kind === 'default') expect([name, example.get(name)]).toEqual([name, setting.default]);
      if (setting.kind === 'optional') expect([name, example.get(name)]).toEqual([name, '']);
    }
  });
});

describe('the declarations', () => {
  it('give each setting a description and a default its own schema accepts', () => {
    for (const { name, setting } of declared) {
      expect([name, setting.description.length > 0]).toEqual([name, true]);
      if (setting.default !== undefined) expect([name, setting.schema.safeParse(setting.default).success]).toEqual([name, true]);
    }
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('module boundaries', () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => join(dir, file));

  it('keep the Upvest client free of the settings loader and of the database', () => {
    const offending = sources('src/upvest').flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/from '(\.\.\/(?:config|db)[^']*)'/g)].map((m) => `${file}: ${m[1]}`),
    );
    expect(offending).toEqual([]);
  });

  it('leave the environment to src/config alone', () => {
    const readers = sources('src')
      .filter((file) => !file.startsWith(join('src', 'generated')))
      .filter((file) => readFileSync(file, 'utf8').includes('process.env'));
    expect(readers).toEqual([join('src', 'config', 'environment.ts')]);
  });
});
