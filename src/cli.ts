#!/usr/bin/env node
// account-sync's command line: parses the command, hands it the environment once, and maps
// its outcome onto an exit code. Each command is its own module with its own composition root.
import { ConfigError, errorMessageOf } from './errors.js';
import type { Command } from './commands/command.js';

const commands: Record<string, () => Promise<Command>> = {
  migrate: async () => (await import('./commands/migrate.js')).migrateCommand,
  sync: async () => (await import('./commands/sync.js')).syncCommand,
  simulator: async () => (await import('./commands/simulator.js')).simulatorCommand,
  demo: async () => (await import('./commands/demo.js')).demoCommand,
  status: async () => (await import('./commands/status.js')).statusCommand,
  changes: async () => (await import('./commands/changes.js')).changesCommand,
  'grant-readonly': async () => (await import('./commands/grant-readonly.js')).grantReadonlyCommand,
  worker: async () => (await import('./commands/worker.js')).workerCommand,
  trigger: async () => (await import('./commands/trigger.js')).triggerCommand,
  receiver: async () => (await import('./commands/receiver.js')).receiverCommand,
  webhooks: async () => (await import('./commands/webhooks.js')).webhooksCommand,
};

function usage(): string {
  return [
    'usage: account-sync <command> [options]',
    '',
    'commands:',
    '  migrate     create the database if needed and apply pending migrations',
    '  sync        run one sync now, in this process (--full | --incremental, --dry-run, --json, --wait)',
    '  simulator   serve the bundled Upvest simulator and print the settings a client needs',
    '  demo        simulator + migrate + two syncs with changes in between, then a report',
    '  status      last runs, live accounts by status, freshness (--json; exit 3 when stale)',
    '  changes     the status change feed from a cursor (--since <id>, --json, --follow, --limit N)',
    '  grant-readonly <role>  create or update a role that can only read the mirror',
    '              (--login | --nologin, --password-stdin)',
    '  worker      the daemon: scheduled syncs through a Redis queue, one at a time across replicas,',
    '              with /healthz, /readyz and /metrics on HEALTH_PORT',
    '  trigger     ask the daemon for a run now (--wait to wait for its end, --json)',
    '  receiver    receive Upvest webhook deliveries, verify them and store their events',
    '  webhooks    register | list | test | delete webhook subscriptions at Upvest',
    '',
    'Settings come from the environment; see README.md or .env.example.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`account-sync: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const command = await load();
  return command.run(args, { env: process.env, stdout: process.stdout, stderr: process.stderr });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message = error instanceof ConfigError ? error.message : `account-sync: ${errorMessageOf(error)}`;
    process.stderr.write(`${message}\n`);
    process.exitCode = error instanceof ConfigError ? 78 : 1;
  },
);
