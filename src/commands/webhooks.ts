// `account-sync webhooks register|list|test|delete`: manages the tenant's webhook
// subscriptions at Upvest. Changing them needs scope webhooks:admin, listing webhooks:read;
// each call asks for a token of just that scope. Composition root.
import { errorMessageOf } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import type { Webhook } from '../upvest/webhooks-api.js';
import { createWebhooksApiFromConfig } from '../webhooks/index.js';
import { subscribe, SUBSCRIPTION_DEFAULTS } from '../webhooks/subscribe.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command } from './command.js';

const COMMAND_LINE = {
  name: 'webhooks',
  usage: [
    'usage: account-sync webhooks <subcommand> [options]',
    '',
    '  register --url URL [--types ACCOUNT[,USER...]] [--title T] [--delay 1s] [--max-package-size BYTES] [--json]',
    '                       subscribe URL (https) to the categories (default ACCOUNT), then enable it',
    '  list [--json]        the subscriptions',
    '  test ID              ask Upvest to send a test delivery to subscription ID',
    '  delete ID            delete subscription ID',
    '',
    'register, test and delete need scope webhooks:admin; list needs webhooks:read.',
  ].join('\n'),
  options: {
    url: { type: 'string' },
    types: { type: 'string', multiple: true },
    title: { type: 'string' },
    delay: { type: 'string' },
    'max-package-size': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  positionals: true,
} as const;

type Values = Extract<ReturnType<typeof parseCommandLine<typeof COMMAND_LINE.options>>, object>['values'];

/** What is wrong with the subcommand and its arguments, if anything. */
function problemOf(values: Values, positionals: string[]): string | undefined {
  const [sub, ...rest] = positionals;
  const { url, types, title, delay } = values;
  const size = values['max-package-size'];
  switch (sub) {
    case 'register':
      if (rest.length > 0) return `unexpected argument "${rest[0]}"`;
      if (url === undefined) return 'register needs --url';
      if (!URL.canParse(url)) return `--url must be a URL, got "${url}"`;
      if (delay !== undefined && !/^[1-9][0-9]?[sm]$/.test(delay)) return `--delay must be like 1s or 5s, got "${delay}"`;
      if (size !== undefined && !/^\d+$/.test(size)) return `--max-package-size must be a whole number of bytes, got "${size}"`;
      return undefined;
    case 'list':
    case 'test':
    case 'delete':
      if (url ?? types ?? title ?? delay ?? size) return `${sub} takes no --url, --types, --title, --delay or --max-package-size`;
      if (sub === 'list' ? rest.length > 0 : rest.length !== 1) return sub === 'list' ? `unexpected argument "${rest[0]}"` : `${sub} needs one subscription ID`;
      return undefined;
    case undefined:
      return 'missing subcommand';
    default:
      return `unknown subcommand "${sub}"`;
  }
}

function describe(webhook: Webhook): string {
  return `${webhook.id}  ${webhook.enabled ? 'enabled ' : 'disabled'}  ${webhook.type.join(',')}  ${webhook.url}  (delay ${webhook.config.delay}, max ${webhook.config.max_package_size} bytes, "${webhook.title}")`;
}

export const webhooksCommand: Command = {
  async run(args, context) {
    const parsed = parseCommandLine(COMMAND_LINE, args, context);
    if (typeof parsed === 'number') return parsed;
    const { values, positionals } = parsed;
    const problem = problemOf(values, positionals);
    if (problem !== undefined) return usageError(COMMAND_LINE, context, problem);
    const [sub, id] = positionals as [string, string | undefined];
    const { config, secrets, logger } = setUp('webhooks', context);
    const api = createWebhooksApiFromConfig(config.upvest, config.webhooks, {
      logger,
      secrets,
      scopes: sub === 'list' ? 'webhooks:read' : 'webhooks:admin',
    });
    const print = (human: string, machine: unknown) => context.stdout.write(`${values.json ? JSON.stringify(machine) : human}\n`);
    const fail = (what: string, error: unknown) => {
      context.stderr.write(`${what}: ${secrets.redact(errorMessageOf(error))}\n`);
      return EXIT.failed;
    };
    try {
      switch (sub) {
        case 'register': {
          const types = values.types?.flatMap((t) => t.split(',')).map((t) => t.trim().toUpperCase()).filter(Boolean);
          const enabled = await subscribe(api, {
            url: values.url!,
            types: types ?? [...SUBSCRIPTION_DEFAULTS.types],
            title: values.title ?? SUBSCRIPTION_DEFAULTS.title,
            delay: values.delay ?? SUBSCRIPTION_DEFAULTS.delay,
            maxPackageSize: values['max-package-size'] === undefined ? SUBSCRIPTION_DEFAULTS.maxPackageSize : Number(values['max-package-size']),
          });
          print(`registered ${describe(enabled)}`, enabled);
          return EXIT.ok;
        }
        case 'list': {
          const all = await api.listAll();
          print(all.length === 0 ? 'no webhook subscriptions' : all.map(describe).join('\n'), all);
          return EXIT.ok;
        }
        case 'test': {
          const outcome = await api.test(id!);
          print(`test delivery requested for ${id} (HTTP ${outcome.status})`, { id, ...outcome });
          return EXIT.ok;
        }
        default: {
          await api.delete(id!);
          print(`deleted ${id}`, { id, deleted: true });
          return EXIT.ok;
        }
      }
    } catch (error) {
      return fail(`account-sync webhooks ${sub}`, error);
    }
  },
};
