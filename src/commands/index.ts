// Every command, as typed after `account-sync`, each loaded only when asked for.
import type { Command } from './command.js';

export const COMMANDS = {
  migrate: async () => (await import('./migrate.js')).migrateCommand,
  sync: async () => (await import('./sync.js')).syncCommand,
  simulator: async () => (await import('./simulator.js')).simulatorCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  status: async () => (await import('./status.js')).statusCommand,
  changes: async () => (await import('./changes.js')).changesCommand,
  'grant-readonly': async () => (await import('./grant-readonly.js')).grantReadonlyCommand,
  worker: async () => (await import('./worker.js')).workerCommand,
  trigger: async () => (await import('./trigger.js')).triggerCommand,
  refresh: async () => (await import('./refresh.js')).refreshCommand,
  receiver: async () => (await import('./receiver.js')).receiverCommand,
  webhooks: async () => (await import('./webhooks.js')).webhooksCommand,
} satisfies Record<string, () => Promise<Command>>;
