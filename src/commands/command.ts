// What a command is, and what every command starts with.
import { loadCommandConfig, type CommandConfig, type CommandName, type Config, type Env, type LoadOptions } from '../config/index.js';
import { createLogger, type Logger } from '../logger.js';
import { SecretRegistry } from '../secrets.js';

export interface CommandContext {
  env: Env;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /**
   * The process's secrets. The CLI hands one in so that it can scrub an unexpected error's
   * message too; without it, the command keeps its own.
   */
  secrets?: SecretRegistry;
}

/** One CLI command. `run` resolves to the process exit code (src/exit-codes.ts). */
export interface Command {
  run(args: string[], context: CommandContext): Promise<number>;
}

export interface CommandSetup<C extends CommandName> {
  config: CommandConfig<C>;
  /** Knows every secret among the settings (and learns access tokens as they come). */
  secrets: SecretRegistry;
  /** JSON lines on the context's standard error, with every secret scrubbed. */
  logger: Logger;
}

/**
 * The settings `command` reads, parsed once, and what is built from them for every command.
 * A ConfigError propagates: the CLI names every bad setting and exits 78.
 */
export function setUp<C extends CommandName>(command: C, context: CommandContext, options?: LoadOptions): CommandSetup<C> {
  const config = loadCommandConfig(command, context.env, options);
  // Every command reads the log section; the secret-holding ones are read where present.
  const known = config as Partial<Config> & Pick<Config, 'log'>;
  const secrets = (context.secrets ?? new SecretRegistry()).addSettings(known);
  const logger = createLogger(known.log, context.stderr, { secrets });
  return { config, secrets, logger };
}
