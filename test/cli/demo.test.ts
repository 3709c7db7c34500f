// The demo reads its settings through the same loader as every command: its own database and
// quieter logs stand in for what the environment leaves unset, the simulator's UPVEST_* win.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase('cli_demo', { migrate: false });
});
afterAll(() => db?.drop());

describe('account-sync demo', () => {
  it('mirrors the simulator into DATABASE_URL, whatever UPVEST_* says, and logs only warnings by default', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--accounts', '200', '--seed', '3'], {
      DATABASE_URL: db.url,
      UPVEST_BASE_URL: 'https://api.upvest.co',
      UPVEST_CLIENT_SECRET: 'not-the-simulators',
    });
    expect([code, stderr]).toEqual([0, '']);
    const lines = stdout.split('\n');
    expect(lines[0]).toMatch(/^Upvest simulator with 200 accounts at http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toMatch(new RegExp(`^Database ${db.name}: \\d+ migration\\(s\\) applied$`));
    expect(lines.filter((line) => line.startsWith('sync run '))).toEqual([
      expect.stringMatching(/^sync run 1 succeeded in .*: 200 accounts seen \(200 new, /),
      expect.stringMatching(/^sync run 2 succeeded in /),
    ]);
  });

  it('names a bad setting and exits 78', async () => {
    const { code, stdout, stderr } = await runCli(['demo', '--accounts', '10'], { DATABASE_URL: db.url, LOG_LEVEL: 'loud' });
    expect([code, stdout]).toEqual([78, '']);
    expect(stderr).toBe('Invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace or silent\n');
  });
});
