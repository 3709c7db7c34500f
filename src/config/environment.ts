// The process environment, read here and nowhere else: entry points ask for it once and pass it
// down, so that tests can hand any command exactly the environment they mean.

export type Env = Readonly<Record<string, string | undefined>>;

/** This process's environment; only src/cli.ts (the entry point) should need it. */
export function processEnv(): Env {
  return process.env;
}

/** Whether `stream` is a terminal a person watches (a progress display), and not a CI log. */
export function isInteractive(stream: NodeJS.WritableStream, env: Env): boolean {
  return Boolean((stream as { isTTY?: boolean }).isTTY) && env.CI !== 'true';
}
