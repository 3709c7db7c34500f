// `account-sync grant-readonly <role> [--login | --nologin] [--password-stdin]`: creates or
// updates a role that can read the mirror and nothing else. Composition root.
import { describeDatabaseUrl, prismaSchemaOf } from '../db/database-url.js';
import { createPrisma } from '../db/prisma.js';
import { AccountSyncError } from '../errors.js';
import { EXIT } from '../exit-codes.js';
import { checkRoleName, grantReadonly, type GrantReadonlyResult } from '../analytics/readonly-role.js';
import { checkPassword, scramSha256Verifier } from '../analytics/scram.js';
import { parseCommandLine, usageError } from './arguments.js';
import { setUp, type Command, type CommandContext } from './command.js';

export const GRANT_READONLY_USAGE =
  'usage: account-sync grant-readonly <role> [--login | --nologin] [--password-stdin] [--json]';

const COMMAND_LINE = {
  name: 'grant-readonly',
  usage: GRANT_READONLY_USAGE,
  options: {
    login: { type: 'boolean', default: false },
    nologin: { type: 'boolean', default: false },
    'password-stdin': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  positionals: true,
} as const;

export const grantReadonlyCommand: Command = {
  run: (args, context) => runGrantReadonly(args, context, { readStdin: () => readAll(process.stdin) }),
};

export async function runGrantReadonly(
  args: string[],
  context: CommandContext,
  deps: { readStdin: () => Promise<string> },
): Promise<number> {
  const fail = (problem: string) => usageError(COMMAND_LINE, context, problem);
  const parsed = parseCommandLine(COMMAND_LINE, args, context);
  if (typeof parsed === 'number') return parsed;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return fail('name exactly one role');
  const role = positionals[0]!;
  const badName = checkRoleName(role);
  if (badName) return fail(badName);
  if (values.login && values.nologin) return fail('choose --login or --nologin, not both');
  if (values.nologin && values['password-stdin']) return fail('a password is only useful with LOGIN: drop --nologin');

  let passwordVerifier: string | undefined;
  if (values['password-stdin']) {
    // One line; its line break is not part of the password.
    const password = (await deps.readStdin()).replace(/\r?\n$/, '');
    const problem = checkPassword(password);
    if (problem) return fail(`--password-stdin: ${problem}`);
    passwordVerifier = scramSha256Verifier(password);
  }

  const { config, secrets } = setUp('grant-readonly', context);
  const prisma = createPrisma(config.database.url, { poolSize: 1, applicationName: 'account-sync grant-readonly' });
  try {
    const result = await grantReadonly(prisma, {
      role,
      schema: prismaSchemaOf(config.database.url).schema,
      login: values.login ? true : values.nologin ? false : undefined,
      passwordVerifier,
    });
    if (values.json) {
      context.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      context.stdout.write(`${describeResult(result, config.database.url)}\n`);
    }
    for (const warning of result.warnings) context.stderr.write(`warning: ${warning}\n`);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof AccountSyncError && error.code === 'READONLY_ROLE_REFUSED') {
      context.stderr.write(`account-sync grant-readonly: ${secrets.redact(error.message)}\n`);
      return EXIT.failed;
    }
    throw error;
  } finally {
    await prisma.$disconnect();
  }
}

function describeResult(result: GrantReadonlyResult, databaseUrl: string): string {
  const target = describeDatabaseUrl(databaseUrl);
  const kind = `${result.login ? 'LOGIN' : 'NOLOGIN'}${result.passwordSet ? ', password set' : ''}`;
  const lines = [
    `${result.created ? 'created' : 'updated'} role ${result.role} (${kind}): it can SELECT from the ` +
      `${result.relations} tables and views of schema ${result.schema} in database ${result.database}, and nothing else.`,
  ];
  if (result.login) {
    const host = target.host.startsWith('/') ? '' : target.host.includes(':') ? `[${target.host}]` : target.host;
    lines.push(`connect with: psql "postgresql://${result.role}@${host}:${target.port}/${encodeURIComponent(result.database)}"`);
  } else {
    lines.push(`it cannot log in itself: grant it to people's own login roles, e.g. GRANT ${result.role} TO alice;`);
  }
  return lines.join('\n');
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
