#!/usr/bin/env node
// account-sync's command line: parses the command, hands it the environment once, and maps
// its outcome onto an exit code (src/exit-codes.ts). Each command is its own module with its
// own composition root, and follows the conventions of commands/arguments.ts.
import { setFlagsFromString } from 'node:v8';
import { loadSections, processEnv } from './config/index.js';
import { ConfigError, errorMessageOf } from './errors.js';
import { EXIT } from './exit-codes.js';
import { currentRelease, describeRelease } from './release.js';
import { SecretRegistry } from './secrets.js';
import { COMMANDS } from './commands/index.js';

const USAGE = [
  'usage: account-sync <command> [options]',
  '',
  'commands:',
  '  migrate     create the database if needed and apply pending migrations',
  '  sync        run one sync now, in this process (--full | --incremental, --dry-run, --json, --wait)',
  '  simulator   serve the bundled Upvest simulator and print the settings a client needs',
  '  demo        simulator + migrate + two syncs with changes in between, then a report',
  '  status      last runs, live accounts by status, freshness (--json; exit 3 when stale)',
  '  changes     the status change feed from a cursor (--since <id>, --json, --follow, --limit N;',
  '              --fields: every field change instead)',
  '  grant-readonly <role>  create or update a role that can only read the mirror',
  '              (--login | --nologin, --password-stdin)',
  '  worker      the daemon: scheduled syncs through a Redis queue, one at a time across replicas,',
  '              with /healthz, /readyz and /metrics on HEALTH_PORT',
  '  trigger     ask the daemon for a run now (--wait to wait for its end, --json)',
  '  refresh <id>...  fetch these accounts now and write them to the mirror (--json)',
  '  receiver    receive Upvest webhook deliveries, verify them and store their events',
  '  webhooks    register | list | test | delete webhook subscriptions at Upvest',
  '',
  '`account-sync <command> --help` tells more; `account-sync --version` (or -V) names the release.',
  'Settings come from the environment; see docs/configuration.md',
  `or .env.example. Exit codes: ${EXIT.ok} ok, ${EXIT.failed} failed, ${EXIT.usage} usage, ${EXIT.stale} stale (status), ` +
    `${EXIT.locked} locked, ${EXIT.config} bad settings.`,
].join('\n');

async function main(argv: string[], secrets: SecretRegistry): Promise<number> {
  const [name, ...args] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`account-sync ${describeRelease(currentRelease())}\n`);
    return EXIT.ok;
  }
  const load = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name as keyof typeof COMMANDS] : undefined;
  if (!load) {
    process.stderr.write(`${name === undefined ? '' : `account-sync: unknown command "${name}"\n\n`}${USAGE}\n`);
    return EXIT.usage;
  }
  const command = await load();
  return command.run(args, { env: processEnv(), stdout: process.stdout, stderr: process.stderr, secrets });
}

/**
 * The engine's settings come first, before any command (and Prisma's WebAssembly with it) is
 * loaded: they only apply to what is compiled and allocated after them.
 */
function tuneRuntime(): void {
  for (const flag of loadSections(processEnv(), ['runtime']).runtime.v8Flags) setFlagsFromString(flag);
}

const secrets = new SecretRegistry();
Promise.resolve()
  .then(() => {
    tuneRuntime();
    return main(process.argv.slice(2), secrets);
  })
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const config = error instanceof ConfigError;
      process.stderr.write(`${config ? error.message : `account-sync: ${secrets.redact(errorMessageOf(error))}`}\n`);
      process.exitCode = config ? EXIT.config : EXIT.failed;
    },
  );
