// GET /accounts: the bearer token, its scope, content negotiation and the paging parameters,
// each rejected the way the real endpoint rejects it.
import { BufferBuilder } from './buffer-builder.js';
import { ACCOUNT_READ_SCOPES, type SimulatorContext } from './context.js';
import type { SortField, SortOrder } from './dataset.js';
import type { Exchange } from './exchange.js';

const DEFAULT_LIMIT = 100;

type Params = { offset: number; limit: number; sort: SortField; order: SortOrder };

/**
 * Token, client, scope and content negotiation of the account reads: the token's scopes, or
 * undefined when it answered already.
 */
function authorized(ex: Exchange, ctx: SimulatorContext): ReadonlySet<string> | undefined {
  const authorization = ex.req.headers.authorization;
  const bearer = authorization === undefined ? undefined : /^Bearer ([^\s]+)$/i.exec(authorization)?.[1];
  if (bearer === undefined) {
    ex.problem(401, authorization === undefined ? 'missing authorization header' : 'authorization must be "Bearer <token>"');
    return undefined;
  }
  const check = ctx.tokens.check(bearer);
  if (!check.ok) {
    ex.problem(401, check.reason);
    return undefined;
  }
  if (ex.req.headers['upvest-client-id'] !== check.grant.clientId) {
    ex.problem(401, 'upvest-client-id does not match the access token');
    return undefined;
  }
  if (!ACCOUNT_READ_SCOPES.some((s) => check.grant.scopes.has(s))) {
    ex.problem(403, `the access token lacks scope ${ACCOUNT_READ_SCOPES.join(' or ')}`);
    return undefined;
  }
  if (!acceptsJson(ex.req.headers.accept)) {
    ex.problem(406, `accept must be application/json, got ${JSON.stringify(ex.req.headers.accept ?? '')}`);
    return undefined;
  }
  return check.grant.scopes;
}

/** GET /accounts/{account_id}: the account as the list serves it, or 404 once it is no longer listed. */
export function handleAccount(ex: Exchange, ctx: SimulatorContext, id: string): void {
  if (!authorized(ex, ctx)) return;
  if (ex.query !== undefined) {
    ex.problem(400, 'GET /accounts/{account_id} takes no query parameters');
    return;
  }
  const served = ctx.dataset.has(id) ? ctx.dataset.servedText(id) : undefined;
  if (served === undefined) {
    ex.problem(404, `no account ${id}`);
    return;
  }
  ctx.stats.accountsServed += 1;
  ex.send(200, 'application/json', served);
}

export function handleAccounts(ex: Exchange, ctx: SimulatorContext): void {
  const scopes = authorized(ex, ctx);
  if (!scopes) return;
  const params = parseParams(ex.query, ctx.maxLimit);
  if (typeof params === 'string') {
    ex.problem(400, params);
    return;
  }
  const { offset, limit, sort, order } = params;
  const paging = ctx.faults.paging(ctx.dataset.count);
  const indices = pageIndices(ctx, params, paging.endless ? limit : (ex.oversize ?? limit), paging.endless || ex.oversize !== undefined);
  const body = new BufferBuilder(512 * (indices.length + 1));
  body.append(
    `{"meta":{"offset":${offset},"limit":${limit},"count":${indices.length},"total_count":${paging.totalCount},` +
      `"sort":"${sort}","order":"${order}"},"data":[`,
  );
  for (let i = 0; i < indices.length; i++) body.append(i === 0 ? ctx.dataset.json(indices[i]!) : `,${ctx.dataset.json(indices[i]!)}`);
  body.append(']}');
  ctx.stats.accountsServed += indices.length;
  ctx.stats.pagesServed++;
  const bytes = body.bytes();
  if (ctx.pageObservers.size > 0) {
    // A client that gave up while a delay held the answer back is gone already.
    const delivered = ex.truncate || ex.res.destroyed || !ex.res.socket || ex.res.socket.destroyed
      ? Promise.resolve(false)
      : new Promise<boolean>((resolve) => {
          ex.res.once('finish', () => resolve(true));
          ex.res.once('close', () => resolve(false));
        });
    const page = { ...params, scopes: [...scopes], body: bytes, delivered };
    for (const observe of ctx.pageObservers) observe(page);
  }
  ex.send(200, 'application/json', bytes);
}

/** The page's accounts; with `wrap`, exactly `items` of them, the list read round and round. */
function pageIndices(ctx: SimulatorContext, params: Params, items: number, wrap: boolean): number[] {
  const { offset, sort, order } = params;
  const count = ctx.dataset.count;
  if (!wrap || count === 0) return ctx.dataset.servedIndices(sort, order, offset, items);
  const out: number[] = [];
  for (let position = offset; out.length < items; position = (position + 1) % count) {
    out.push(...ctx.dataset.indices(sort, order, position % count, 1));
  }
  return out;
}

function acceptsJson(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  return accept.split(',').some((range) => range.split(';')[0]!.trim().toLowerCase() === 'application/json');
}

/** The paging parameters, or a problem detail naming the offending one. */
export function parseParams(query: string | undefined, maxLimit: number): Params | string {
  const search = new URLSearchParams(query ?? '');
  for (const name of ['offset', 'limit', 'sort', 'order']) {
    if (search.getAll(name).length > 1) return `${name} must be given at most once`;
  }
  const offsetRaw = search.get('offset');
  const limitRaw = search.get('limit');
  const sort = search.get('sort') ?? 'created_at';
  const order = search.get('order') ?? 'ASC';
  let offset = 0;
  if (offsetRaw !== null) {
    if (!/^\d+$/.test(offsetRaw) || !Number.isSafeInteger(Number(offsetRaw))) {
      return `offset must be an integer >= 0, got ${JSON.stringify(offsetRaw)}`;
    }
    offset = Number(offsetRaw);
  }
  let limit = DEFAULT_LIMIT;
  if (limitRaw !== null) {
    limit = /^\d+$/.test(limitRaw) ? Number(limitRaw) : Number.NaN;
    if (!(limit >= 1 && limit <= maxLimit)) {
      return `limit must be an integer between 1 and ${maxLimit}, got ${JSON.stringify(limitRaw)}`;
    }
  }
  if (sort !== 'created_at' && sort !== 'updated_at') {
    return `sort must be one of created_at, updated_at, got ${JSON.stringify(sort)}`;
  }
  if (order !== 'ASC' && order !== 'DESC') return `order must be ASC or DESC, got ${JSON.stringify(order)}`;
  return { offset, limit, sort, order };
}
