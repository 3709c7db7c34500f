// The webhook receiver's HTTP intake: for a POST on its path it reads the body up to a limit
// (413 past it), verifies the signature on the raw bytes (401), stores every event of the
// delivery in one transaction and answers 200 only after the commit (503 when it could not,
// so that Upvest retries). It keeps no state between requests: several receivers can run
// behind a load balancer, the database decides what is new.
import { createServer, type IncomingMessage } from 'node:http';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import type { PrismaClient } from '../db/prisma.js';
import { errorCodeOf, errorMessageOf } from '../errors.js';
import type { Logger } from '../logger.js';
import { parseEnvelope } from './envelope.js';
import { storeDelivery, type StoredBatch } from './event-store.js';
import { verifyWebhookSignature, type KeyLookup, type SignatureFailure, type SignaturePolicy } from './signature.js';

export interface ReceiverOptions {
  host: string;
  /** 0: any free port. */
  port: number;
  /** The one path deliveries are accepted on, e.g. /webhooks/upvest. */
  path: string;
  maxBodyBytes: number;
  signature: Omit<SignaturePolicy, 'nowMs'>;
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

  const server = createServer((req, res) => {
    const answer = (status: number, body: Record<string, unknown>, outcome: ReceiverOutcome, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(`${JSON.stringify(body)}\n`);
      options.onOutcome?.(outcome);
    };
    const refuse = (status: number, failure: IntakeFailure, reason: string, keyId?: string, headers?: Record<string, string>) => {
      options.logger.warn({ failure, keyId, status }, `webhook delivery refused: ${reason}`);
      answer(status, { error: failure, detail: reason }, { status, failure, reason, ...(keyId ? { keyId } : {}) }, headers);
    };

    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 || q === target.length - 1 ? undefined : target.slice(q + 1);
    if (path !== options.path) return void answer(404, { error: 'not_found' }, { status: 404, failure: 'not_found' });
    if (req.method !== 'POST') {
      return void answer(405, { error: 'method_not_allowed' }, { status: 405, failure: 'method_not_allowed' }, { allow: 'POST' });
    }
    if (allowed) {
      const source = clientAddress(req, options.trustForwardedFor ?? false);
      const family = isIP(source) === 6 ? 'ipv6' : 'ipv4';
      if (!source || !allowed.check(source, family)) return refuse(403, 'source_not_allowed', `source address ${source || 'unknown'} is not allowed`);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > options.maxBodyBytes) {
      return tooLarge(req, options.maxBodyBytes, () => refuse(413, 'too_large', `body of ${declared} bytes is over the limit of ${options.maxBodyBytes}`));
    }
    readBody(req, options.maxBodyBytes, (body) => {
      if (body === undefined) {
        return tooLarge(req, options.maxBodyBytes, () => refuse(413, 'too_large', `body over the limit of ${options.maxBodyBytes} bytes`));
      }
      void intake({ method: req.method ?? 'POST', path, query, rawHeaders: req.rawHeaders, body });
    });

    async function intake(request: Parameters<typeof verifyWebhookSignature>[0]): Promise<void> {
      let verdict;
      try {
        verdict = await verifyWebhookSignature(request, { ...options.signature, nowMs: now() }, options.keys);
      } catch (error) {
        // Upvest's keys could not be fetched: not the sender's fault, so a status that is retried.
        return refuse(503, 'keys_unavailable', errorMessageOf(error));
      }
      if (!verdict.ok) return refuse(401, verdict.failure, verdict.reason, verdict.keyId);
      const receivedAt = new Date(now());
      try {
        const batch = await storeDelivery(options.prisma, parseEnvelope(request.body), { keyId: verdict.keyId, receivedAt });
        options.logger.info({ keyId: verdict.keyId, ...batch }, `webhook delivery stored: ${batch.stored} new, ${batch.redelivered} again`);
        answer(200, { status: 'stored', ...batch }, { status: 200, keyId: verdict.keyId, batch });
      } catch (error) {
        options.logger.error({ err: error, code: errorCodeOf(error) }, `webhook delivery not stored: ${errorMessageOf(error)}`);
        answer(503, { error: 'store_failed' }, { status: 503, failure: 'store_failed', reason: errorMessageOf(error) });
      }
    }
  });
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
