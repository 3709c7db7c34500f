import type { Env } from '../config.js';

export interface CommandContext {
  env: Env;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** One CLI command. `run` resolves to the process exit code. */
export interface Command {
  run(args: string[], context: CommandContext): Promise<number>;
}
