// `account-sync webhooks register|list|test|delete`: manages the tenant's webhook
// subscriptions at Upvest. Changing them needs scope webhooks:admin, listing webhooks:read;
// each call asks for a token of just that scope. Composition root.
import { parseArgs } from 'node:util';
import { loadWebhooksCommandConfig } from '../config.js';
import { errorMessageOf } from '../errors.js';
import { createLogger } from '../logger.js';
import type { Webhook } from '../upvest/webhooks-api.js';
import { createWebhooksApiFromConfig } from '../webhooks/index.js';
import type { Command, CommandContext } from './command.js';

const USAGE = [
  'usage: account-sync webhooks <subcommand> [options]',
  '',
  '  register --url URL [--types ACCOUNT[,USER...]] [--title T] [--delay 1s] [--max-package-size BYTES] [--json]',
  '                       subscribe URL (https) to the categories (default ACCOUNT), then enable it',
  '  list [--json]        the subscriptions',
  '  test ID              ask Upvest to send a test delivery to subscription ID',
  '  delete ID            delete subscription ID',
  '',
  'register, test and delete need scope webhooks:admin; list needs webhooks:read.',
].join('\n');

const OPTIONS = {
  url: { type: 'string' },
  types: { type: 'string', multiple: true },
  title: { type: 'string' },
  delay: { type: 'string' },
  'max-package-size': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

type Parsed = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;

/** A usage problem, or the parsed arguments. */
function parse(args: string[]): Parsed | string {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    return (error as Error).message;
  }
  if (parsed.values.help) return parsed;
  const [sub, ...rest] = parsed.positionals;
  const { url, types, title, delay } = parsed.values;
  const size = parsed.values['max-package-size'];
  switch (sub) {
    case 'register':
      if (rest.length > 0) return `unexpected argument "${rest[0]}"`;
      if (url === undefined) return 'register needs --url';
      if (!URL.canParse(url)) return `--url must be a URL, got "${url}"`;
      if (delay !== undefined && !/^[1-9][0-9]?[sm]$/.test(delay)) return `--delay must be like 1s or 5s, got "${delay}"`;
      if (size !== undefined && !/^\d+$/.test(size)) return `--max-package-size must be a whole number of bytes, got "${size}"`;
      return parsed;
    case 'list':
    case 'test':
    case 'delete':
      if (url ?? types ?? title ?? delay ?? size) return `${sub} takes no --url, --types, --title, --delay or --max-package-size`;
      if (sub === 'list' ? rest.length > 0 : rest.length !== 1) return sub === 'list' ? `unexpected argument "${rest[0]}"` : `${sub} needs one subscription ID`;
      return parsed;
    case undefined:
      return 'missing subcommand';
    default:
      return `unknown subcommand "${sub}"`;
  }
}

function describe(webhook: Webhook): string {
  return `${webhook.id}  ${webhook.enabled ? 'enabled ' : 'disabled'}  ${webhook.type.join(',')}  ${webhook.url}  (delay ${webhook.config.delay}, max ${webhook.config.max_package_size} bytes, "${webhook.title}")`;
}

export async function runWebhooks(args: string[], context: CommandContext): Promise<number> {
  const parsed = parse(args);
  if (typeof parsed === 'string') {
    context.stderr.write(`account-sync webhooks: ${parsed}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    context.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [sub, id] = parsed.positionals as [string, string | undefined];
  const { values } = parsed;
  const config = loadWebhooksCommandConfig(context.env);
  const logger = createLogger(config.log, context.stderr, { secrets: [config.upvest.clientSecret, config.upvest.signingKeyPassphrase] });
  const api = createWebhooksApiFromConfig(config.upvest, config.webhooks, { logger, scopes: sub === 'list' ? 'webhooks:read' : 'webhooks:admin' });
  const print = (human: string, machine: unknown) => context.stdout.write(`${values.json ? JSON.stringify(machine) : human}\n`);
  try {
    switch (sub) {
      case 'register': {
        const types = (values.types ?? ['ACCOUNT']).flatMap((t) => t.split(',')).map((t) => t.trim().toUpperCase()).filter(Boolean);
        const created = await api.create({
          title: values.title ?? 'account-sync',
          url: values.url!,
          type: types,
          config: { delay: values.delay ?? '1s', max_package_size: Number(values['max-package-size'] ?? 1_048_576) },
        });
        let enabled: Webhook;
        try {
          enabled = await api.update(created.id, { enabled: true });
        } catch (error) {
          context.stderr.write(`account-sync webhooks: created ${created.id} but could not enable it: ${errorMessageOf(error)}\n`);
          return 1;
        }
        print(`registered ${describe(enabled)}`, enabled);
        return 0;
      }
      case 'list': {
        const all = await api.listAll();
        print(all.length === 0 ? 'no webhook subscriptions' : all.map(describe).join('\n'), all);
        return 0;
      }
      case 'test': {
        const outcome = await api.test(id!);
        print(`test delivery requested for ${id} (HTTP ${outcome.status})`, { id, ...outcome });
        return 0;
      }
      default: {
        await api.delete(id!);
        print(`deleted ${id}`, { id, deleted: true });
        return 0;
      }
    }
  } catch (error) {
    context.stderr.write(`account-sync webhooks ${sub}: ${errorMessageOf(error)}\n`);
    return 1;
  }
}

export const webhooksCommand: Command = { run: runWebhooks };
