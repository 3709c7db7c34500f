// `account-sync simulator`: serves the bundled Upvest simulator until interrupted and prints
// the settings a client needs as shell `export` lines. Composition root.
import { EXIT } from '../exit-codes.js';
import { startStandaloneSimulator } from '../simulator/standalone.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';
import { abortOnStopSignals, untilAborted } from './signals.js';

const USAGE = [
  'usage: account-sync simulator [--accounts N] [--port P] [--host H] [--seed S] [--key-dir DIR] [--changes-every-ms MS]',
  '                              [--http-webhooks] [--tenant]',
  '',
  '  --accounts N           accounts to serve (default 10000)',
  '  --port P               port to listen on (default: any free port)',
  '  --host H               address to listen on (default 127.0.0.1)',
  '  --seed S               dataset seed; the same seed serves the same accounts (default 1)',
  '  --key-dir DIR          where to write the encrypted signing key (default: a fresh temp dir)',
  '  --changes-every-ms MS  apply a few random account changes every MS milliseconds',
  '  --tenant               accounts shaped like a real tenant\'s: a fifth held jointly by two owners,',
  '                         a fifth of the groups owned by someone who owns another (1.2 links, 0.88 users',
  '                         per account); default: the original shape',
  '  --http-webhooks        accept webhook subscriptions to plain http URLs on any host (a receiver',
  '                         in a container network); Upvest takes https only',
  '',
  'SIGUSR2 applies one round of those random changes at once (with or without --changes-every-ms),',
  'and logs it: a script can change the tenant exactly when it means to.',
].join('\n');

interface Settings {
  accounts: number;
  port: number;
  host: string;
  seed: number;
  keyDir: string | undefined;
  changesEveryMs: number | undefined;
  webhookHttpUrls: boolean;
  tenant: boolean;
}

function wholeNumber(name: string, raw: string | undefined, min: number, max: number): number | string | undefined {
  if (raw === undefined) return undefined;
  const value = /^-?\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) return `--${name} must be a whole number from ${min} to ${max}, got "${raw}"`;
  return value;
}

const COMMAND_LINE = {
  name: 'simulator',
  usage: USAGE,
  options: {
    accounts: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    seed: { type: 'string' },
    'key-dir': { type: 'string' },
    'changes-every-ms': { type: 'string' },
    'http-webhooks': { type: 'boolean', default: false },
    tenant: { type: 'boolean', default: false },
  },
} as const;

/** The settings, or the exit code when there is nothing more to do (help, or a usage error). */
function parseSimulatorArgs(args: string[], context: CommandContext): Settings | number {
  const parsed = parseCommandLine(COMMAND_LINE, args, context);
  if (typeof parsed === 'number') return parsed;
  const { values } = parsed;
  const accounts = wholeNumber('accounts', values.accounts, 0, 50_000_000);
  const port = wholeNumber('port', values.port, 0, 65_535);
  const seed = wholeNumber('seed', values.seed, 0, 0xffff_ffff);
  const changesEveryMs = wholeNumber('changes-every-ms', values['changes-every-ms'], 1, 86_400_000);
  for (const problem of [accounts, port, seed, changesEveryMs]) if (typeof problem === 'string') return usageError(COMMAND_LINE, context, problem);
  if (values['key-dir'] === '') return usageError(COMMAND_LINE, context, '--key-dir must not be empty');
  return {
    accounts: (accounts as number | undefined) ?? 10_000,
    port: (port as number | undefined) ?? 0,
    host: values.host ?? '127.0.0.1',
    seed: (seed as number | undefined) ?? 1,
    keyDir: values['key-dir'],
    changesEveryMs: changesEveryMs as number | undefined,
    webhookHttpUrls: values['http-webhooks'],
    tenant: values.tenant,
  };
}

const shellQuote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/** Tells `listener` of every request for a round of changes now; returns an unsubscribe. */
export type ChangeRequests = (listener: () => void) => () => void;

/** Serves until `stop` aborts; the command wires `stop` to SIGINT and SIGTERM, `changeRequests` to SIGUSR2. */
export async function runSimulator(
  args: string[],
  context: CommandContext,
  stop: AbortSignal,
  changeRequests: ChangeRequests = () => () => undefined,
): Promise<number> {
  const settings = parseSimulatorArgs(args, context);
  if (typeof settings === 'number') return settings;
  const { logger } = setUp('simulator', context);
  const standalone = await startStandaloneSimulator({ ...settings, logger });
  const { simulator } = standalone;
  for (const [key, value] of Object.entries(standalone.env)) context.stdout.write(`export ${key}=${shellQuote(value)}\n`);
  context.stdout.write(
    `# Upvest simulator: ${settings.accounts} accounts at ${simulator.url}. ` +
      'Paste the lines above into the shell that runs account-sync; Ctrl-C stops the simulator.\n',
  );

  let round = 0;
  const changeAccounts = (cause: string) => {
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
        cause,
        statusChanges: log.statusChanges.length,
        renames: log.renames.length,
        added: log.added.length,
        removed: log.removed.length,
        userChanges: log.userChanges.length,
        accounts: simulator.dataset.count,
      },
      'simulator changed accounts',
    );
  };
  const changer = settings.changesEveryMs === undefined ? undefined : setInterval(() => changeAccounts('timer'), settings.changesEveryMs);
  const unsubscribe = changeRequests(() => changeAccounts('request'));

  await untilAborted(stop);
  unsubscribe();
  if (changer) clearInterval(changer);
  await standalone.close();
  return EXIT.ok;
}

export const simulatorCommand: Command = {
  async run(args, context) {
    const stop = abortOnStopSignals();
    try {
      return await runSimulator(args, context, stop.signal, (listener) => {
        process.on('SIGUSR2', listener);
        return () => process.off('SIGUSR2', listener);
      });
    } finally {
      stop.unwire();
    }
  },
};
