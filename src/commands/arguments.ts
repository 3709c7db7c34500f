// The command-line conventions every command follows: `--help` (or `-h`) prints its usage on
// standard output and exits 0; anything it does not understand prints what is wrong and its
// usage on standard error and exits 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT } from '../exit-codes.js';
import type { CommandContext } from './command.js';

type Options = NonNullable<ParseArgsConfig['options']>;
type ParseArgsOptionConfig = Options[string];
const HELP = { help: { type: 'boolean', short: 'h' } } as const;

export interface CommandLine<O extends Options> {
  /** As typed after `account-sync`, e.g. 'grant-readonly'. */
  name: string;
  usage: string;
  options: O;
  /** Whether bare words are taken (grant-readonly's role); the command checks how many. */
  positionals?: boolean;
}

type ValueOf<O extends ParseArgsOptionConfig> = (O['type'] extends 'string' ? string : boolean) extends infer V
  ? O['multiple'] extends true
    ? V[]
    : V
  : never;
/** Options with a default are always there; the others only when given. */
type Values<O extends Options> = {
  -readonly [K in keyof O as O[K]['default'] extends string | boolean ? K : never]: ValueOf<O[K]>;
} & { -readonly [K in keyof O as O[K]['default'] extends string | boolean ? never : K]?: ValueOf<O[K]> };

/** The parsed arguments, or the exit code when there is nothing more to do (help, or a usage error). */
export function parseCommandLine<const O extends Options>(
  command: CommandLine<O>,
  args: string[],
  context: CommandContext,
): { values: Values<O>; positionals: string[] } | number {
  let parsed;
  try {
    const config: ParseArgsConfig = { args, options: { ...command.options, ...HELP }, strict: true, allowPositionals: command.positionals ?? false };
    parsed = parseArgs(config);
  } catch (error) {
    // Node suggests `--` for a positional that starts with "-": no command takes one.
    return usageError(command, context, (error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  if (parsed.values.help) {
    context.stdout.write(`${command.usage}\n`);
    return EXIT.ok;
  }
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** Says what is wrong with the command line, then how to use it; resolves to the usage exit code. */
export function usageError(command: { name: string; usage: string }, context: CommandContext, problem: string): number {
  context.stderr.write(`account-sync ${command.name}: ${problem}\n\n${command.usage}\n`);
  return EXIT.usage;
}
