// `account-sync simulator`: serves the bundled Upvest simulator until interrupted and prints
// the settings a client needs as shell `export` lines. Composition root.
import { parseArgs } from 'node:util';
import { loadLogConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { startStandaloneSimulator } from '../simulator/standalone.js';
import type { Command, CommandContext } from './command.js';

const USAGE = [
  'usage: account-sync simulator [--accounts N] [--port P] [--host H] [--seed S] [--key-dir DIR] [--changes-every-ms MS]',
  '',
  '  --accounts N           accounts to serve (default 10000)',
  '  --port P               port to listen on (default: any free port)',
  '  --host H               address to listen on (default 127.0.0.1)',
  '  --seed S               dataset seed; the same seed serves the same accounts (default 1)',
  '  --key-dir DIR          where to write the encrypted signing key (default: a fresh temp dir)',
  '  --changes-every-ms MS  apply a few random account changes every MS milliseconds',
].join('\n');

interface Settings {
  accounts: number;
  port: number;
  host: string;
  seed: number;
  keyDir: string | undefined;
  changesEveryMs: number | undefined;
}

function wholeNumber(name: string, raw: string | undefined, min: number, max: number): number | string | undefined {
  if (raw === undefined) return undefined;
  const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) return `--${name} must be a whole number from ${min} to ${max}, got "${raw}"`;
  return value;
}

/** The settings, or a message saying what is wrong with the arguments. */
export function parseSimulatorArgs(args: string[]): Settings | { help: true } | string {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        accounts: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        seed: { type: 'string' },
        'key-dir': { type: 'string' },
        'changes-every-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (values.help) return { help: true };
  const accounts = wholeNumber('accounts', values.accounts, 0, 50_000_000);
  const port = wholeNumber('port', values.port, 0, 65_535);
  const seed = wholeNumber('seed', values.seed, 0, 0xffff_ffff);
  const changesEveryMs = wholeNumber('changes-every-ms', values['changes-every-ms'], 1, 86_400_000);
  for (const parsed of [accounts, port, seed, changesEveryMs]) if (typeof parsed === 'string') return parsed;
  if (values['key-dir'] === '') return '--key-dir must not be empty';
  return {
    accounts: (accounts as number | undefined) ?? 10_000,
    port: (port as number | undefined) ?? 0,
    host: values.host ?? '127.0.0.1',
    seed: (seed as number | undefined) ?? 1,
    keyDir: values['key-dir'],
    changesEveryMs: changesEveryMs as number | undefined,
  };
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Serves until `stop` aborts; the command wires `stop` to SIGINT and SIGTERM. */
export async function runSimulator(args: string[], context: CommandContext, stop: AbortSignal): Promise<number> {
  const settings = parseSimulatorArgs(args);
  if (typeof settings === 'string') {
    context.stderr.write(`account-sync simulator: ${settings}\n\n${USAGE}\n`);
    return 2;
  }
  if ('help' in settings) {
    context.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const logger = createLogger(loadLogConfig(context.env), context.stderr);
  const standalone = await startStandaloneSimulator({ ...settings, logger });
  const { simulator } = standalone;
  for (const [key, value] of Object.entries(standalone.env)) context.stdout.write(`export ${key}=${shellQuote(value)}\n`);
  context.stdout.write(
    `# Upvest simulator: ${settings.accounts} accounts at ${simulator.url}. ` +
      'Paste the lines above into the shell that runs account-sync; Ctrl-C stops the simulator.\n',
  );

  let round = 0;
  const changer =
    settings.changesEveryMs === undefined
      ? undefined
      : setInterval(() => {
          round++;
          const log = simulator.dataset.applyRandomChanges({
            seed: settings.seed * 100_003 + round,
            statusChanges: 5,
            renames: 2,
            additions: 2,
            removals: 1,
            userChanges: 1,
          });
          logger.info(
            {
              round,
              statusChanges: log.statusChanges.length,
              renames: log.renames.length,
              added: log.added.length,
              removed: log.removed.length,
              userChanges: log.userChanges.length,
              accounts: simulator.dataset.count,
            },
            'simulator changed accounts',
          );
        }, settings.changesEveryMs);

  await new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener('abort', () => resolve(), { once: true });
  });
  if (changer) clearInterval(changer);
  await standalone.close();
  return 0;
}

export const simulatorCommand: Command = {
  async run(args, context) {
    const controller = new AbortController();
    const onSignal = () => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await runSimulator(args, context, controller.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
