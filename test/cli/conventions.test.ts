// Every command follows the same command-line conventions, through the real CLI: `--help`
// prints its usage on standard output and exits 0; an option it does not know prints what is
// wrong and the same usage on standard error and exits 2. Neither reads a setting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/index.js';
import { EXIT } from '../../src/exit-codes.js';
import { runCli } from '../support/cli.js';

describe.each(Object.keys(COMMANDS))('account-sync %s', (name) => {
  it('prints its usage with --help and exits 0, or with an unknown option on standard error and exits 2', async () => {
    const help = await runCli([name, '--help'], {});
    expect([help.code, help.stderr]).toEqual([EXIT.ok, '']);
    expect(help.stdout).toMatch(new RegExp(`^usage: account-sync ${name}\\b`));

    const bogus = await runCli([name, '--bogus'], {});
    expect([bogus.code, bogus.stdout]).toEqual([EXIT.usage, '']);
    expect(bogus.stderr).toBe(`account-sync ${name}: Unknown option '--bogus'\n\n${help.stdout}`);
  });
});

describe('account-sync', () => {
  it('prints its usage with --help (exit 0), and on standard error without a command or with an unknown one (exit 2)', async () => {
    const help = await runCli(['--help'], {});
    expect([help.code, help.stderr]).toEqual([EXIT.ok, '']);
    expect(help.stdout).toMatch(/^usage: account-sync <command> \[options\]\n/);

    expect(await runCli([], {})).toMatchObject({ code: EXIT.usage, stdout: '', stderr: help.stdout });
    expect(await runCli(['bogus'], {})).toMatchObject({ code: EXIT.usage, stdout: '', stderr: `account-sync: unknown command "bogus"\n\n${help.stdout}` });
  });
});

describe('account-sync --version', () => {
  it('names the package version, and says the commit is unknown when no build recorded it (as from source); -V says the same', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const long = await runCli(['--version'], {});
    expect(long).toMatchObject({ code: EXIT.ok, stdout: `account-sync ${version} (unknown commit)\n`, stderr: '' });
    expect(await runCli(['-V'], {})).toMatchObject({ code: EXIT.ok, stdout: long.stdout, stderr: '' });
  });
});
