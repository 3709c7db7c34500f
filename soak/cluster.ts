// The soak's own PostgreSQL: a throw-away cluster (initdb into a temp directory, run as the
// `postgres` user, its own port and socket directory), so that it can be restarted during a
// run without touching the machine's server, which other test runs share. Settings are
// initdb's defaults, autovacuum included.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { escapeIdentifier } from 'pg';
import { openClient } from '../src/db/pg-client.js';
import { freePort } from './ports.js';

const run = promisify(execFile);
const BIN = process.env.SOAK_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface Cluster {
  readonly port: number;
  /** URL of a database of this cluster, as user postgres over TCP. */
  url(database: string): string;
  createDatabase(name: string): Promise<string>;
  /** `fast`: sessions ended, checkpoint; `immediate`: as a crash, recovery at start. */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
  stop(): Promise<void>;
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  const { stdout } = await run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { maxBuffer: 1 << 20 });
  return stdout;
}

export async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'account-sync-soak-pg-'));
  const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim());
  const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim());
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  await asPostgres('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = await freePort();
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir}`;
  const ctl = (...args: string[]) => asPostgres('pg_ctl', ['-D', data, '-w', '-t', '120', '-l', join(dir, 'server.log'), ...args]);
  await ctl('-o', options, 'start');
  const url = (database: string) => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  return {
    port,
    url,
    async createDatabase(name) {
      const admin = await openClient(url('postgres'), 'account-sync soak');
      try {
        await admin.query(`CREATE DATABASE ${escapeIdentifier(name)}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    async restart(mode) {
      await ctl('-m', mode, 'stop');
      await ctl('-o', options, 'start');
    },
    async stop() {
      await ctl('-m', 'fast', 'stop').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
