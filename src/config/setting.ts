// How a setting is declared, once: the variable's name (the key it is declared under), how its
// text is read, its default as written in the environment, and one line on what it is for. The
// declarations are data: the loader reads them, and the tests hold docs/configuration.md and
// .env.example to them.
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { Env } from './environment.js';

type Kind = 'required' | 'default' | 'optional';

export interface Setting<T = unknown, K extends Kind = Kind> {
  readonly kind: K;
  /** Reads the variable's text; unset and empty never reach it. */
  readonly schema: z.ZodType<T>;
  /** Used when the variable is unset or empty, written as it would be in the environment. */
  readonly default?: string;
  readonly description: string;
}

/** Must be set; "is required" otherwise. */
export function required<T>(schema: z.ZodType<T>, description: string): Setting<T, 'required'> {
  return { kind: 'required', schema, description };
}

/** `fallback` is read through the same schema as a value that was set. */
export function withDefault<T>(schema: z.ZodType<T>, fallback: string, description: string): Setting<T, 'default'> {
  return { kind: 'default', schema, default: fallback, description };
}

/** May stay unset: its value is then undefined. */
export function optional<T>(schema: z.ZodType<T>, description: string): Setting<T, 'optional'> {
  return { kind: 'optional', schema, description };
}

export type Settings = Readonly<Record<string, Setting<any>>>;

type ValueOf<S> = S extends Setting<infer T, infer K> ? (K extends 'optional' ? T | undefined : T) : never;
export type ValuesOf<S extends Settings> = { [K in keyof S]: ValueOf<S[K]> };

/** A group of settings that one part of the program needs, and the value it is handed. */
export interface Section<S extends Settings = Settings, C = unknown> {
  readonly settings: S;
  /**
   * The section's value from settings that are each valid; throws a ConfigError for a
   * combination that is not. `given` names the variables that were set (not defaulted).
   */
  build(values: ValuesOf<S>, given: ReadonlySet<string>): C;
}

export function section<S extends Settings, C>(settings: S, build: (values: ValuesOf<S>, given: ReadonlySet<string>) => C): Section<S, C> {
  return { settings, build };
}

export type SectionValue<X> = X extends Section<any, infer C> ? C : never;

/** Reads one section out of `env`; every bad variable of it is named in one ConfigError. */
export function parseSection<S extends Settings, C>(of: Section<S, C>, env: Env): C {
  const problems: Array<{ key: string; message: string }> = [];
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (const [key, setting] of Object.entries(of.settings)) {
    const set = env[key] !== undefined && env[key] !== '';
    if (set) given.add(key);
    const text = set ? env[key] : setting.default;
    if (text === undefined) {
      if (setting.kind === 'required') problems.push({ key, message: 'is required' });
      continue;
    }
    const result = setting.schema.safeParse(text);
    if (result.success) values[key] = result.data;
    else problems.push(...result.error.issues.map((issue) => ({ key, message: issue.message })));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return of.build(values as ValuesOf<S>, given);
}
