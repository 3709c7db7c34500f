// A minimal client over node:http for the simulator tests: every byte on the wire is under the
// test's control, and transport failures surface as the socket reports them.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { SimAccount, Simulator } from '../../src/simulator/index.js';
import { signRequest, type SignInput } from './sign-helper.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json<T = any>(): T;
}

/** A transport failure, with whatever had arrived before it. */
export interface TransportError extends Error {
  code?: string;
  partial?: { status: number; headers: IncomingHttpHeaders; body: string };
}

export function rawRequest(
  baseUrl: string,
  options: { method: string; target: string; headers: Record<string, string>; body?: Buffer; agent?: Agent },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${options.target}`, { method: options.method, headers: options.headers, agent: options.agent });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (error: TransportError) => {
        error.partial = { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') };
        reject(error);
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.end(options.body);
  });
}

export interface Page {
  meta: { offset: number; limit: number; count: number; total_count: number; sort: string; order: string };
  data: SimAccount[];
}

export class TestClient {
  readonly key: KeyObject;

  constructor(
    readonly sim: Simulator,
    options: { key?: KeyObject; keyId?: string; agent?: Agent } = {},
  ) {
    this.key = options.key ?? createPrivateKey(sim.privateKeyPem!);
    this.keyId = options.keyId ?? sim.keyId;
    this.agent = options.agent;
  }

  readonly keyId: string;
  readonly agent: Agent | undefined;

  /** POST /auth/token with a form built from the simulator's credentials and `form`. */
  token(
    options: { scope?: string; form?: Record<string, string>; headers?: Record<string, string>; sign?: Partial<SignInput>; body?: Buffer } = {},
  ): Promise<RawResponse> {
    const form = new URLSearchParams({
      client_id: this.sim.clientId,
      client_secret: this.sim.clientSecret,
      grant_type: 'client_credentials',
      scope: options.scope ?? 'accounts:read',
      ...options.form,
    });
    const body = Buffer.from(form.toString());
    const headers = signRequest({
      method: 'POST',
      path: '/auth/token',
      headers: {
        accept: 'application/json',
        'content-type': 'application/x-www-form-urlencoded',
        'upvest-client-id': this.sim.clientId,
        ...options.headers,
      },
      body,
      key: this.key,
      keyId: this.keyId,
      ...options.sign,
    });
    return rawRequest(this.sim.url, { method: 'POST', target: '/auth/token', headers, body: options.body ?? body, agent: this.agent });
  }

  async accessToken(scope = 'accounts:read'): Promise<string> {
    const response = await this.token({ scope });
    if (response.status !== 200) throw new Error(`token: ${response.status} ${response.body}`);
    return response.json().access_token as string;
  }

  /** A signed GET; `query` is sent verbatim. */
  get(
    path: string,
    query: string,
    options: { token?: string; headers?: Record<string, string>; sign?: Partial<SignInput>; method?: string } = {},
  ): Promise<RawResponse> {
    const method = options.method ?? 'GET';
    const headers = signRequest({
      method,
      path,
      query,
      headers: {
        accept: 'application/json',
        'upvest-client-id': this.sim.clientId,
        ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
        ...options.headers,
      },
      key: this.key,
      keyId: this.keyId,
      ...options.sign,
    });
    return rawRequest(this.sim.url, { method, target: query ? `${path}?${query}` : path, headers, agent: this.agent });
  }

  async page(token: string, query: string): Promise<Page> {
    const response = await this.get('/accounts', query, { token });
    if (response.status !== 200) throw new Error(`GET /accounts?${query}: ${response.status} ${response.body}`);
    return response.json() as Page;
  }

  /** Every page of one ordering, in order. */
  async walk(token: string, sort: string, order: string, limit: number): Promise<SimAccount[]> {
    const out: SimAccount[] = [];
    for (let offset = 0; ; offset += limit) {
      const page = await this.page(token, `offset=${offset}&limit=${limit}&sort=${sort}&order=${order}`);
      out.push(...page.data);
      if (offset + limit >= page.meta.total_count) return out;
    }
  }
}
