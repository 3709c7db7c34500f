// The soak's own redis-server, writing its snapshot into a temp directory only when told
// (SAVE), so that a restart can keep its data (snapshot taken, then killed) or lose it
// (killed, snapshot deleted) as the schedule decides.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

export interface SoakRedis {
  readonly url: string;
  /** Kills the server and starts it again on the same port, with or without its data. */
  restart(keepData: boolean): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<SoakRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'account-sync-soak-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no'];
      const c = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let out = '';
      c.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('Ready to accept connections')) resolve();
      });
      c.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-2000)}`)));
    });
  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  const url = `redis://127.0.0.1:${port}`;
  return {
    url,
    async restart(keepData) {
      if (keepData) {
        const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
        try {
          await client.connect();
          await client.save();
        } finally {
          client.disconnect();
        }
      }
      await kill();
      if (!keepData) rmSync(join(dir, 'dump.rdb'), { force: true });
      await start();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
