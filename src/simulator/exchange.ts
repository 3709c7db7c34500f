// One request and its answer. Every way of answering goes through here so that the request id
// header, the statistics and the "truncate" fault apply to all of them alike.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { problem, PROBLEM_CONTENT_TYPE } from './problems.js';
import type { SimulatorStats } from './stats.js';

export class Exchange {
  /** Set by the truncate fault: the answer's body is cut short and the socket destroyed. */
  truncate = false;
  /** Set by the oversize fault: the page holds this many accounts whatever its limit. */
  oversize: number | undefined;
  private done = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly requestId: string,
    readonly path: string,
    /** Raw query without "?", undefined when the target has no (or an empty) query. */
    readonly query: string | undefined,
    readonly body: Buffer,
    private readonly stats: SimulatorStats,
  ) {}

  get answered(): boolean {
    return this.done;
  }

  send(status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
    if (this.done) return;
    this.done = true;
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    this.res.writeHead(status, {
      'content-type': contentType,
      'content-length': String(bytes.length),
      ...headers,
    });
    this.stats.answered(this.path, status);
    if (!this.truncate) {
      this.res.end(bytes);
      return;
    }
    // Headers promise the whole body; half of it arrives, then the connection dies.
    const socket = this.res.socket;
    this.res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => socket?.destroy());
  }

  json(status: number, value: unknown, headers?: Record<string, string>): void {
    this.send(status, 'application/json', JSON.stringify(value), headers);
  }

  problem(status: number, detail: string, headers?: Record<string, string>): void {
    this.send(status, PROBLEM_CONTENT_TYPE, JSON.stringify(problem(status, detail, this.requestId, this.path)), headers);
  }

  /** Drops the connection with a TCP RST, so the client sees ECONNRESET and no answer. */
  reset(): void {
    if (this.done) return;
    this.done = true;
    this.stats.answered(this.path, 0);
    const socket = this.req.socket;
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }
}
