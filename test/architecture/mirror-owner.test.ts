// One owner for the mirror's rows (src/mirror/): whatever brings the rows (a sync page by upsert
// or COPY, a webhook, a lookup, a deletion mark), only its files hold SQL that writes accounts,
// users, account_users, account_status_changes or account_changes, or that sends the change
// feed's notification.
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './sources.js';

const OWNER = 'src/mirror/';

/** Writes elsewhere, each with its reason. */
const EXCEPTIONS: Record<string, string> = {
  // Settling the deferred foreign keys (issue 26): dropping and restoring them, and writing the
  // users that links written while they were down name. Schema work around a run, not a writer.
  'src/sync/deferred-keys.ts': 'the deferred keys: ALTER TABLE, and the users links name when the keys come back',
};

const TABLES = 'accounts|users|account_users|account_status_changes|account_changes';
const WRITES = [
  new RegExp(`\\b(?:INSERT\\s+INTO|UPDATE|DELETE\\s+FROM|TRUNCATE(?:\\s+TABLE)?|COPY|ALTER\\s+TABLE|MERGE\\s+INTO)\\s+(?:ONLY\\s+)?(?:"?public"?\\.)?"?(?:${TABLES})"?(?![\\w.])`, 'gi'),
  /\.(?:account|user|accountUser|accountStatusChange|accountChange)\s*\.\s*(?:create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert|delete|deleteMany)\b/g,
  // The feed's notification, however the channel is spelled into the statement.
  /pg_notify\(\s*'?\$\{\s*FEED_CHANNEL\s*\}/g,
];

function writesOf(text: string): string[] {
  return WRITES.flatMap((pattern) => [...text.matchAll(pattern)].map((match) => match[0].replace(/\s+/g, ' ')));
}

describe("the mirror's owner", () => {
  it('finds the writes it looks for (a check that the test sees what it should)', () => {
    const found = sourceFiles()
      .filter((file) => file.path.startsWith(OWNER))
      .flatMap((file) => writesOf(file.text));
    expect(found).toEqual(
      expect.arrayContaining([
        'INSERT INTO accounts',
        'UPDATE accounts',
        'INSERT INTO users',
        'INSERT INTO account_users',
        'DELETE FROM account_users',
        'INSERT INTO account_status_changes',
        'INSERT INTO account_changes',
        'pg_notify(${FEED_CHANNEL}',
        "pg_notify('${FEED_CHANNEL}",
      ]),
    );
    expect(writesOf('await prisma.accountUser.deleteMany({})')).toEqual(['.accountUser.deleteMany']);
    expect(writesOf('UPDATE accounts_view SET x = 1; SELECT 1 FROM users')).toEqual([]);
  });

  it('holds every write of the five tables and every notification of the feed', () => {
    const elsewhere = sourceFiles()
      .filter((file) => !file.path.startsWith(OWNER) && !(file.path in EXCEPTIONS))
      .flatMap((file) => writesOf(file.text).map((write) => `${file.path}: ${write}`));
    expect(elsewhere).toEqual([]);
  });

  it('lists only exceptions that still write', () => {
    const files = new Map(sourceFiles().map((file) => [file.path, file.text]));
    const stale = Object.keys(EXCEPTIONS).filter((path) => writesOf(files.get(path) ?? '').length === 0);
    expect(stale).toEqual([]);
  });
});
