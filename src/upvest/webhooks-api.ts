// Upvest's webhook endpoints: the verification keys and the subscriptions. Each call is signed
// like every other (http.ts), carries a bearer token (refreshed once on a 401) and goes through
// the one retry layer, except creating a subscription: POST /webhooks is not idempotent, so it
// is tried once and a failure is left to the operator (list, then delete the stray one).
import { z } from 'zod';
import { UpvestError } from '../errors.js';
import type { UpvestClientDeps } from './client.js';
import { statusError, type HttpResponse, type SignedRequest } from './http.js';
import { withRetry } from './retry.js';

const verifyKey = z.object({
  kid: z.string().min(1),
  kty: z.string(),
  crv: z.string().optional(),
  x: z.string().optional(),
  y: z.string().optional(),
});
const verifyKeys = z.object({ keys: z.array(verifyKey) });
export type VerifyKey = z.infer<typeof verifyKey>;

const webhookConfig = z.object({ delay: z.string(), max_package_size: z.number().int() });

const webhook = z.looseObject({
  id: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  title: z.string(),
  url: z.string(),
  enabled: z.boolean(),
  type: z.array(z.string()),
  config: webhookConfig,
});
export type Webhook = z.infer<typeof webhook>;

const webhookList = z.object({
  meta: z.looseObject({ offset: z.number(), limit: z.number(), count: z.number(), total_count: z.number() }),
  data: z.array(webhook),
});
export type WebhookList = z.infer<typeof webhookList>;

export interface WebhookCreate {
  title: string;
  url: string;
  /** Categories, e.g. ["ACCOUNT"]; Upvest's default is ["ALL"]. */
  type?: string[];
  /** delay like "1s" (at most 30 s), max_package_size in bytes (100 .. 1048576). */
  config?: { delay: string; max_package_size: number };
}

/** The mutable fields; only those given are sent. */
export type WebhookPatch = Partial<WebhookCreate & { enabled: boolean }>;

/** What the accounts client is built from (the same exchange, token and budget), and the test method. */
export interface WebhooksApiDeps extends Omit<UpvestClientDeps, 'onRetry'> {
  /** The docs' guide says GET /webhooks/{id}/test, the API spec POST (the default). */
  testMethod?: 'POST' | 'GET';
}

export interface WebhooksApi {
  verifyKeys(): Promise<VerifyKey[]>;
  create(input: WebhookCreate): Promise<Webhook>;
  update(id: string, patch: WebhookPatch): Promise<Webhook>;
  list(page?: { offset?: number; limit?: number }): Promise<WebhookList>;
  /** Every subscription, page after page. */
  listAll(): Promise<Webhook[]>;
  get(id: string): Promise<Webhook>;
  delete(id: string): Promise<void>;
  /** Asks Upvest to send a test delivery; the status, and the body GET answers with. */
  test(id: string): Promise<{ status: number; body: unknown }>;
}

type Call = Omit<SignedRequest, 'headers'> & { expect: number[]; retried?: boolean };

export function createWebhooksApi(deps: WebhooksApiDeps): WebhooksApi {
  /** `read` takes the answer apart inside the retried attempt: a body cut short or not JSON is retried like any other failure. */
  async function send<T = HttpResponse>(call: Call, read: (response: HttpResponse) => T = (response) => response as T): Promise<T> {
    const what = `${call.method} ${call.path}`;
    if (call.retried === false) {
      await deps.gate.wait();
      return read(await once(deps, call));
    }
    return withRetry(what, async () => read(await once(deps, call)), { config: deps.retry, gate: deps.gate, logger: deps.logger });
  }

  async function json<S extends z.ZodType>(call: Call, schema: S): Promise<z.infer<S>> {
    const { parsed, response } = await send(call, (response) => {
      try {
        return { parsed: JSON.parse(response.body) as unknown, response };
      } catch (cause) {
        throw new UpvestError('UPVEST_BAD_BODY', `${call.method} ${call.path}: the body is not JSON`, { status: response.status, requestId: response.requestId, cause });
      }
    });
    return matching(schema, parsed, call, response);
  }

  const body = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');
  const path = (id: string) => `/webhooks/${encodeURIComponent(id)}`;

  const api: WebhooksApi = {
    async verifyKeys() {
      return (await json({ method: 'GET', path: '/auth/verify_keys', expect: [200] }, verifyKeys)).keys;
    },
    create(input) {
      return json({ method: 'POST', path: '/webhooks', body: body(input), expect: [200, 201], retried: false }, webhook);
    },
    update(id, patch) {
      const fields = Object.fromEntries(
        (['title', 'url', 'enabled', 'type', 'config'] as const).filter((k) => patch[k] !== undefined).map((k) => [k, patch[k]]),
      );
      return json({ method: 'PATCH', path: path(id), body: body(fields), expect: [200] }, webhook);
    },
    list(page = {}) {
      return json({ method: 'GET', path: '/webhooks', query: { offset: page.offset ?? 0, limit: page.limit ?? 100 }, expect: [200] }, webhookList);
    },
    async listAll() {
      const out: Webhook[] = [];
      for (let offset = 0; ; ) {
        const page = await api.list({ offset, limit: 100 });
        out.push(...page.data);
        offset += page.data.length;
        if (page.data.length === 0 || offset >= page.meta.total_count) return out;
      }
    },
    get(id) {
      return json({ method: 'GET', path: path(id), expect: [200] }, webhook);
    },
    async delete(id) {
      await send({ method: 'DELETE', path: path(id), expect: [200, 204] });
    },
    async test(id) {
      const method = deps.testMethod ?? 'POST';
      const response = await send({ method, path: `${path(id)}/test`, expect: [200, 202, 204], retried: method === 'GET' });
      let parsed: unknown = response.body;
      try {
        parsed = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        // not JSON: shown as text
      }
      return { status: response.status, body: parsed };
    },
  };
  return api;
}

/** One signed call with a bearer token; a 401 is answered with one fresh token, then it is final. */
async function once(deps: WebhooksApiDeps, call: Call): Promise<HttpResponse> {
  const what = `${call.method} ${call.path}`;
  let refreshed = false;
  for (;;) {
    const token = await deps.tokens.get();
    const headers: Record<string, string> = {
      accept: 'application/json',
      authorization: `Bearer ${token}`,
      'upvest-client-id': deps.clientId,
      'upvest-api-version': deps.apiVersion,
    };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    const response = await deps.exchange({ method: call.method, path: call.path, query: call.query, body: call.body, headers });
    if (response.status === 401 && !refreshed) {
      deps.tokens.invalidate(token);
      refreshed = true;
      continue;
    }
    if (!call.expect.includes(response.status)) throw statusError(response, what, deps.now);
    return response;
  }
}

/** The answer checked against its schema; a mismatch names every field that is off. */
function matching<S extends z.ZodType>(schema: S, parsed: unknown, call: Call, response: HttpResponse): z.infer<S> {
  const result = schema.safeParse(parsed);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new UpvestError('UPVEST_BAD_ENVELOPE', `${call.method} ${call.path}: unexpected answer (${problems.join('; ')})`, {
      status: response.status,
      requestId: response.requestId,
    });
  }
  return result.data;
}
