// The webhook receiver's HTTP intake, checks before work: for a POST on its path it checks the
// source address (403), the declared size (413), the signature's headers and parameters and
// finds its key (401), all before it reads a byte of the body; then it reads the body up to a
// limit, checks its digest and the signature on the raw bytes (401), stores every event of the
// delivery in one transaction and answers 200 only after the commit (503 when it could not, so
// that Upvest retries). Headers and whole requests have time limits and connections a cap
// (src/http-server.ts). A refusal says only what kind it is ("unauthorized"): why goes to the
// log and the metrics. It keeps no state between requests: several receivers can run behind a
// load balancer, the database decides what is new.
import type { IncomingMessage, Server } from 'node:http';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import type { PrismaClient } from '../db/prisma.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import { createLimitedServer, listen, setBaselineHeaders, type ServerLimits } from '../http-server.js';
import type { Logger } from '../logger.js';
import { parseEnvelope } from './envelope.js';
import { storeDelivery, type StoredBatch } from './event-store.js';
import { checkBody, checkHead, keyRefusal, shownKeyId, type KeyLookup, type SignatureFailure, type SignaturePolicy } from './signature.js';

export interface ReceiverOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The one path deliveries are accepted on, e.g. /webhooks/upvest. */
  path: string;
  maxBodyBytes: number;
  signature: Omit<SignaturePolicy, 'nowMs'>;
  /** Time limits and the connection cap; the defaults below unless given. */
  limits?: Partial<Omit<ServerLimits, 'keepAliveTimeoutMs'>>;
  /** Addresses and CIDR ranges deliveries may come from; empty or absent: any. */
  allowedSources?: readonly string[];
  /** Take the client address from the last X-Forwarded-For entry (behind a trusted proxy). */
  trustForwardedFor?: boolean;
  keys: KeyLookup;
  prisma: PrismaClient;
  logger: Logger;
  now?: () => number;
  /** Every answered request, for metrics and tests. */
  onOutcome?: (outcome: ReceiverOutcome) => void;
}

export const RECEIVER_LIMITS: Omit<ServerLimits, 'keepAliveTimeoutMs'> = { headersTimeoutMs: 5_000, requestTimeoutMs: 7_000, maxConnections: 256 };

/** A key lookup that has to fetch Upvest's keys waits this long at most (503 after; the fetch goes on). */
export const KEY_LOOKUP_TIMEOUT_MS = 3_000;

export type IntakeFailure =
  | SignatureFailure
  | 'not_found'
  | 'method_not_allowed'
  | 'too_large'
  | 'source_not_allowed'
  | 'keys_unavailable'
  | 'store_failed';

export interface ReceiverOutcome {
  status: number;
  failure?: IntakeFailure;
  reason?: string;
  keyId?: string;
  batch?: StoredBatch;
}

export interface Receiver {
  readonly port: number;
  readonly url: string;
  /** Stops accepting; requests under way finish (their events stored) first. */
  close(): Promise<void>;
}

/** What a sender is told of a refusal: its kind, nothing more. */
const ANSWER: Record<number, string> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'too_large',
  503: 'unavailable',
};

/** Reasons logged are cut to this: a sender chooses much of their text. */
const MAX_LOGGED_REASON = 300;

/** An allow-list of addresses ("203.0.113.7") and ranges ("203.0.113.0/24", "2001:db8::/32"). */
export function sourceAllowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const family = isIP(address ?? '') === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, family);
    else list.addSubnet(address!, Number(prefix), family);
  }
  return list;
}

export async function startReceiver(options: ReceiverOptions): Promise<Receiver> {
  const now = options.now ?? Date.now;
  const allowed = options.allowedSources?.length ? sourceAllowList(options.allowedSources) : undefined;
  const limits = { ...RECEIVER_LIMITS, ...options.limits };

  const server = createLimitedServer({ ...limits, keepAliveTimeoutMs: 5_000 }, (req, res) => {
    setBaselineHeaders(res);
    const answer = (status: number, body: Record<string, unknown>, outcome: ReceiverOutcome, headers: Record<string, string> = {}) => {
      const text = `${JSON.stringify(body)}\n`;
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
      res.end(text);
      options.onOutcome?.(outcome);
    };
    const refuse = (status: number, failure: IntakeFailure, reason: string, keyId?: string) => {
      const shown = keyId === undefined ? undefined : shownKeyId(keyId);
      options.logger.warn({ failure, keyId: shown, status }, `webhook delivery refused: ${reason.slice(0, MAX_LOGGED_REASON)}`);
      answer(status, { error: ANSWER[status] }, { status, failure, reason, ...(shown ? { keyId: shown } : {}) });
    };

    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 || q === target.length - 1 ? undefined : target.slice(q + 1);
    if (path !== options.path) return void answer(404, { error: ANSWER[404] }, { status: 404, failure: 'not_found' });
    if (req.method !== 'POST') return void answer(405, { error: ANSWER[405] }, { status: 405, failure: 'method_not_allowed' }, { allow: 'POST' });
    if (allowed) {
      const source = clientAddress(req, options.trustForwardedFor ?? false);
      const family = isIP(source) === 6 ? 'ipv6' : 'ipv4';
      if (!source || !allowed.check(source, family)) return refuse(403, 'source_not_allowed', `source address ${source || 'unknown'} is not allowed`);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > options.maxBodyBytes) {
      return tooLarge(req, options.maxBodyBytes, () => refuse(413, 'too_large', `body of ${declared} bytes is over the limit of ${options.maxBodyBytes}`));
    }
    const head = checkHead(
      { method: req.method ?? 'POST', path, query, rawHeaders: req.rawHeaders, hasBody: declared > 0 || req.headers['transfer-encoding'] !== undefined },
      { ...options.signature, nowMs: now() },
    );
    if ('failure' in head) return refuseUnread(req, () => refuse(401, head.failure, head.reason, head.keyId));
    void withTimeout(options.keys(head.keyId), KEY_LOOKUP_TIMEOUT_MS).then(
      (found) => {
        if (found === undefined || 'withdrawn' in found) {
          const refusal = keyRefusal(head.keyId, found);
          return refuseUnread(req, () => refuse(401, refusal.failure, refusal.reason, head.keyId));
        }
        readBody(req, options.maxBodyBytes, (body) => {
          if (body === undefined) {
            return tooLarge(req, options.maxBodyBytes, () => refuse(413, 'too_large', `body over the limit of ${options.maxBodyBytes} bytes`));
          }
          const verdict = checkBody(head, { method: 'POST', path, query, rawHeaders: req.rawHeaders, body }, found.key);
          if (!verdict.ok) return refuse(401, verdict.failure, verdict.reason, verdict.keyId);
          void store(verdict.keyId, body);
        });
      },
      // Upvest's keys could not be fetched (in time): not the sender's fault, so a status that is retried.
      (error: unknown) => refuseUnread(req, () => refuse(503, 'keys_unavailable', errorMessageOf(error), head.keyId)),
    );

    async function store(keyId: string, body: Buffer): Promise<void> {
      const receivedAt = new Date(now());
      try {
        const batch = await storeDelivery(options.prisma, parseEnvelope(body), { keyId, receivedAt });
        options.logger.info({ keyId, ...batch }, `webhook delivery stored: ${batch.stored} new, ${batch.redelivered} again`);
        answer(200, { status: 'stored', ...batch }, { status: 200, keyId, batch });
      } catch (error) {
        options.logger.error({ err: error, code: errorCodeOf(error) }, `webhook delivery not stored: ${errorMessageOf(error)}`);
        answer(503, { error: ANSWER[503] }, { status: 503, failure: 'store_failed', reason: errorMessageOf(error) });
      }
    }
  });

  return listening(server, options);
}

/** Listens on the configured address and hands back the receiver: its port, its URL and a close that waits for requests under way. */
async function listening(server: Server, options: ReceiverOptions): Promise<Receiver> {
  await listen(server, options.port, options.host);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  options.logger.info({ host: options.host, port: address.port, path: options.path }, `webhook receiver listening on ${options.host}:${address.port}${options.path}`);
  let closed: Promise<void> | undefined;
  return {
    port: address.port,
    url: `http://${host}:${address.port}${options.path}`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closed;
    },
  };
}

function clientAddress(req: IncomingMessage, trustForwardedFor: boolean): string {
  const forwarded = trustForwardedFor ? String(req.headers['x-forwarded-for'] ?? '').split(',').pop()?.trim() : undefined;
  const address = forwarded || req.socket.remoteAddress || '';
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Upvest's webhook verification keys did not come within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The body, or undefined once it grows past `limit` (the rest is not read). */
function readBody(req: IncomingMessage, limit: number, done: (body: Buffer | undefined) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) return void chunks.push(chunk);
    over = true;
    req.off('data', onData);
    req.pause();
    done(undefined);
  };
  req.on('data', onData);
  req.on('end', () => {
    if (!over) done(Buffer.concat(chunks));
  });
  // A sender that goes away mid-body gets no answer; nothing was stored.
  req.on('error', () => undefined);
}

/**
 * A refusal before the body was read: answered at once, and the body (at most the limit, as
 * declared) is let through unread, so that the sender sees the answer rather than a connection
 * torn down under its upload; one that dribbles it is cut off by the request time limit.
 */
function refuseUnread(req: IncomingMessage, answer: () => void): void {
  answer();
  req.on('error', () => undefined);
  req.resume();
}

/**
 * Answers at once, then reads and drops the rest of the body, so that the sender sees the 413
 * rather than a connection torn down under its upload; past four times the limit the
 * connection is dropped after all.
 */
function tooLarge(req: IncomingMessage, limit: number, answer: () => void): void {
  answer();
  let drained = 0;
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > 4 * limit) req.socket.destroy();
  });
  req.resume();
}
