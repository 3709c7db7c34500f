// GET /auth/verify_keys and the /webhooks endpoints, answered like Upvest's: bearer token and
// scope checked (webhooks:read or webhooks:admin to read, webhooks:admin to change), JSON
// bodies validated as its spec describes. Signature and API version are checked by server.ts.
import type { SimulatorContext } from './context.js';
import type { Exchange } from './exchange.js';

const READ = ['webhooks:read', 'webhooks:admin'];
const ADMIN = ['webhooks:admin'];

export interface WebhookRoute {
  method: string;
  handle: (ex: Exchange, ctx: SimulatorContext) => void;
  authorized: true;
}

/** The route for a webhook path and method; a route with another method when only the method is wrong. */
export function matchWebhookRoute(path: string, method: string): WebhookRoute | undefined {
  if (path === '/auth/verify_keys') return { method: 'GET', handle: (ex, ctx) => guarded(ex, ctx, READ, () => ex.json(200, ctx.webhooks.keyring.jwks())), authorized: true };
  if (path === '/webhooks') {
    if (method === 'POST') return { method, handle: (ex, ctx) => guarded(ex, ctx, ADMIN, () => create(ex, ctx)), authorized: true };
    return { method: 'GET', handle: (ex, ctx) => guarded(ex, ctx, READ, () => list(ex, ctx)), authorized: true };
  }
  const match = /^\/webhooks\/([^/]+)(\/test)?$/.exec(path);
  if (!match) return undefined;
  const id = decodeURIComponent(match[1]!);
  if (match[2]) return { method: 'POST', handle: (ex, ctx) => guarded(ex, ctx, ADMIN, () => test(ex, ctx, id)), authorized: true };
  switch (method) {
    case 'PATCH':
      return { method, handle: (ex, ctx) => guarded(ex, ctx, ADMIN, () => update(ex, ctx, id)), authorized: true };
    case 'DELETE':
      return { method, handle: (ex, ctx) => guarded(ex, ctx, ADMIN, () => remove(ex, ctx, id)), authorized: true };
    default:
      return { method: 'GET', handle: (ex, ctx) => guarded(ex, ctx, READ, () => get(ex, ctx, id)), authorized: true };
  }
}

function guarded(ex: Exchange, ctx: SimulatorContext, scopes: string[], then: () => void): void {
  const authorization = ex.req.headers.authorization;
  const bearer = authorization === undefined ? undefined : /^Bearer ([^\s]+)$/i.exec(authorization)?.[1];
  if (bearer === undefined) return ex.problem(401, 'missing or malformed authorization header');
  const check = ctx.tokens.check(bearer);
  if (!check.ok) return ex.problem(401, check.reason);
  if (ex.req.headers['upvest-client-id'] !== check.grant.clientId) return ex.problem(401, 'upvest-client-id does not match the access token');
  if (!scopes.some((s) => check.grant.scopes.has(s))) return ex.problem(403, `the access token lacks scope ${scopes.join(' or ')}`);
  then();
}

function jsonBody(ex: Exchange): Record<string, unknown> | undefined {
  if (!(ex.req.headers['content-type'] ?? '').toLowerCase().startsWith('application/json')) {
    ex.problem(415, 'content-type must be application/json');
    return undefined;
  }
  try {
    const parsed: unknown = JSON.parse(ex.body.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  ex.problem(400, 'the body must be a JSON object');
  return undefined;
}

function create(ex: Exchange, ctx: SimulatorContext): void {
  const body = jsonBody(ex);
  if (!body) return;
  const created = ctx.webhooks.subscriptions.create(body);
  if (typeof created === 'string') return ex.problem(400, created);
  ex.json(201, created);
}

function update(ex: Exchange, ctx: SimulatorContext, id: string): void {
  const body = jsonBody(ex);
  if (!body) return;
  const updated = ctx.webhooks.subscriptions.update(id, body);
  if (updated === undefined) return ex.problem(404, `no webhook ${id}`);
  if (typeof updated === 'string') return ex.problem(400, updated);
  ex.json(200, updated);
}

function list(ex: Exchange, ctx: SimulatorContext): void {
  const search = new URLSearchParams(ex.query ?? '');
  const offset = Number(search.get('offset') ?? 0);
  const limit = Number(search.get('limit') ?? 100);
  if (!(Number.isInteger(offset) && offset >= 0)) return ex.problem(400, 'offset must be an integer >= 0');
  if (!(Number.isInteger(limit) && limit >= 1 && limit <= 1000)) return ex.problem(400, 'limit must be an integer between 1 and 1000');
  const all = ctx.webhooks.subscriptions.list();
  const data = all.slice(offset, offset + limit);
  ex.json(200, { meta: { offset, limit, count: data.length, total_count: all.length, sort: 'created_at', order: 'ASC' }, data });
}

function get(ex: Exchange, ctx: SimulatorContext, id: string): void {
  const subscription = ctx.webhooks.subscriptions.get(id);
  if (!subscription) return ex.problem(404, `no webhook ${id}`);
  ex.json(200, subscription);
}

function remove(ex: Exchange, ctx: SimulatorContext, id: string): void {
  if (!ctx.webhooks.subscriptions.delete(id)) return ex.problem(404, `no webhook ${id}`);
  ctx.webhooks.forget(id);
  ex.send(204, 'application/json', '');
}

function test(ex: Exchange, ctx: SimulatorContext, id: string): void {
  if (!ctx.webhooks.subscriptions.get(id)) return ex.problem(404, `no webhook ${id}`);
  ctx.webhooks.sendTest(id);
  ex.send(202, 'application/json', '');
}
