// One delivery attempt over HTTP: the batch signed as Upvest's v6 signer signs it, with the
// armed switches applied (a wrong or unknown key, a tampered body, a cut-off request), and
// the answer's status, or none when the request failed.
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Deliver } from './webhook-delivery.js';
import type { WebhookKeyring } from './webhook-keys.js';
import { signWebhookRequest } from './webhook-signer.js';
import type { WebhookSwitches } from './webhook-switches.js';

export interface TransportOptions {
  keyring: WebhookKeyring;
  switches: WebhookSwitches;
  /** Clock in ms for `created`. */
  now: () => number;
  timeoutMs: number;
}

export interface Transport {
  deliver: Deliver;
  /** Aborts the requests in flight. */
  close(): void;
}

const USER_AGENT = 'upvest-webhooks-simulator';

export function createTransport(options: TransportOptions): Transport {
  const firstSignatures = new Map<number, Record<string, string>>();
  const inFlight = new Set<ClientRequest>();

  const deliver: Deliver = (subscription, batch, attempt) => {
    const switches = options.switches.takeAttempt();
    const url = new URL(subscription.url);
    const query = url.search === '' ? undefined : url.search.slice(1);
    const covered: Array<[string, string]> = [
      ['content-type', 'application/json'],
      ['user-agent', USER_AGENT],
    ];
    let signed = attempt > 1 && !options.switches.resignRetries ? firstSignatures.get(batch.seq) : undefined;
    if (!signed || switches.some((s) => s === 'wrong-key' || s === 'unknown-key-id' || s === 'withdrawn-key' || s === 'raw-signature')) {
      const withdrawn = switches.includes('withdrawn-key') ? options.keyring.lastWithdrawn : undefined;
      const current = withdrawn ?? options.keyring.current;
      const stranger = switches.includes('wrong-key') || switches.includes('unknown-key-id');
      signed = signWebhookRequest({
        method: 'POST',
        path: url.pathname,
        query,
        headers: covered,
        body: batch.body,
        key: stranger ? options.keyring.stranger() : current.privateKey,
        keyId: switches.includes('unknown-key-id') ? randomUUID() : current.kid,
        createdS: Math.floor(options.now() / 1000),
        encoding: switches.includes('raw-signature') ? 'ieee-p1363' : 'der',
      });
    }
    if (attempt === 1) firstSignatures.set(batch.seq, signed);
    let body = batch.body;
    // Still valid JSON, but not the bytes that were signed.
    if (switches.includes('tamper-body')) body = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from(' }')]);
    const headers = { ...Object.fromEntries(covered), ...signed, 'content-length': String(body.length) };

    return new Promise((resolve) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method: 'POST', headers });
      inFlight.add(req);
      let settled = false;
      const done = (status: number, error?: string) => {
        if (settled) return;
        settled = true;
        inFlight.delete(req);
        if (status === 200) firstSignatures.delete(batch.seq);
        resolve({ status, switches, ...(error === undefined ? {} : { error }) });
      };
      req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
      req.on('error', (error) => done(0, error.message));
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => done(res.statusCode ?? 0));
        res.on('error', (error) => done(0, error.message));
      });
      if (switches.includes('cut-off')) {
        req.write(body.subarray(0, Math.floor(body.length / 2)), () => req.destroy(new Error('cut off mid-request')));
      } else {
        req.end(body);
      }
    });
  };

  return {
    deliver,
    close() {
      for (const req of inFlight) req.destroy();
      inFlight.clear();
    },
  };
}
