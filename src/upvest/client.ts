// The Upvest client account-sync needs: one page of GET /accounts at a time, signed, with a
// token that is refreshed once on a 401, and retried as upvest/retry.ts decides.
import { UpvestError } from '../errors.js';
import type { Logger } from '../logger.js';
import { statusError, type HttpExchange, type HttpResponse } from './http.js';
import { withRetry, type RequestGate } from './retry.js';
import type { RetrySettings } from './settings.js';
import { serialisedRecordsDigest, servedRecords } from './page-digest.js';
import { pageEnvelope, pageMeta, type PageEnvelope } from './schema.js';
import type { TokenProvider } from './token.js';

export interface ListAccountsQuery {
  offset: number;
  limit: number;
  sort: 'created_at' | 'updated_at';
  order: 'ASC' | 'DESC';
}

export interface AccountsPage extends PageEnvelope {
  requestId: string | undefined;
  /** A digest of the page's records exactly as served (see page-digest.ts). */
  digest: string;
  /** Failed attempts before this page came back. */
  retries: number;
  /**
   * Set when the caller recognised the page's digest (see ListOptions.recognise): its records
   * are then decoded only if `data` is read, and this says what they hold.
   */
  recognised?: RecognisedPage;
}

/** What a page recognised by its digest held when it was last decoded. */
export interface RecognisedPage {
  count: number;
  firstId: string | null;
  lastId: string | null;
}

export interface ListOptions {
  /**
   * Asked with the digest of the records as served, before they are decoded: what the caller
   * knows of records with this digest, if it knows them. A recognised page is returned without
   * decoding its records (JSON.parse of a page is most of what a sync spends on it).
   */
  recognise?: (digest: string) => RecognisedPage | undefined;
}

/**
 * One account as GET /accounts/{account_id} answers: found (its record, unvalidated), or a 404.
 * `upvestProblem`: the 404 is Upvest's own problem+json (status 404 in the body), not a proxy's
 * or a gateway's "no route"; only such a 404, from a route shown to work, says the account is gone.
 */
export type AccountLookup =
  | { found: true; record: unknown; requestId: string | undefined }
  | { found: false; upvestProblem: boolean; requestId: string | undefined };

export interface UpvestClient {
  listAccounts(query: ListAccountsQuery, signal?: AbortSignal, options?: ListOptions): Promise<AccountsPage>;
  getAccount(id: string, signal?: AbortSignal): Promise<AccountLookup>;
}

export interface UpvestClientDeps {
  exchange: HttpExchange;
  tokens: TokenProvider;
  gate: RequestGate;
  logger: Logger;
  retry: RetrySettings;
  clientId: string;
  apiVersion: string;
  /** Every retried attempt, for run statistics and metrics. */
  onRetry?: (error: UpvestError) => void;
  now?: () => number;
}

export function createUpvestClient(deps: UpvestClientDeps): UpvestClient {
  async function listOnce(query: ListAccountsQuery, signal: AbortSignal | undefined, options: ListOptions): Promise<AccountsPage> {
    const what = `GET /accounts offset=${query.offset}`;
    const response = await signedGet(deps, '/accounts', { offset: query.offset, limit: query.limit, sort: query.sort, order: query.order }, signal);
    if (response.status !== 200) throw statusError(response, what, deps.now);
    const served = servedRecords(response.bytes);
    const recognised = served && options.recognise?.(served.digest);
    if (served && recognised && recognised.count <= query.limit) {
      const meta = pageMeta.safeParse(served.head.meta);
      if (meta.success) return recognisedPage(meta.data, recognised, served.digest, response.bytes, what, response.requestId);
    }
    const envelope = parsePage(response.body, what, response.requestId);
    if (envelope.data.length > query.limit) {
      // Not a page we asked for: a server that says otherwise is not to be followed.
      throw new UpvestError(
        'UPVEST_PAGE_TOO_LARGE',
        `${what}: the page holds ${envelope.data.length} items, more than its limit of ${query.limit}`,
        { status: 200, requestId: response.requestId },
      );
    }
    return { ...envelope, requestId: response.requestId, digest: served?.digest ?? serialisedRecordsDigest(envelope.data), retries: 0 };
  }

  async function getOnce(id: string, signal: AbortSignal | undefined): Promise<AccountLookup> {
    const path = `/accounts/${encodeURIComponent(id)}`;
    const response = await signedGet(deps, path, undefined, signal);
    if (response.status === 404) return { found: false, upvestProblem: isUpvestNotFound(response), requestId: response.requestId };
    if (response.status !== 200) throw statusError(response, `GET ${path}`, deps.now);
    return { found: true, record: parseJson(response.body, `GET ${path}`, response.requestId), requestId: response.requestId };
  }

  const retried = <T>(what: string, attempt: () => Promise<T>, signal: AbortSignal | undefined, onRetry?: () => void) =>
    withRetry(what, attempt, {
      config: deps.retry,
      gate: deps.gate,
      logger: deps.logger,
      signal,
      onRetry: (error) => {
        onRetry?.();
        deps.onRetry?.(error);
      },
    });

  return {
    async listAccounts(query, signal, options = {}) {
      let retries = 0;
      const page = await retried(`GET /accounts offset=${query.offset}`, () => listOnce(query, signal, options), signal, () => (retries += 1));
      // Not a copy: a recognised page's records are decoded on first read of `data`.
      page.retries = retries;
      return page;
    },
    getAccount(id, signal) {
      return retried(`GET /accounts/${id}`, () => getOnce(id, signal), signal);
    },
  };
}

/** One signed GET with a bearer token; a 401 is answered with one fresh token, then it is final. */
async function signedGet(
  deps: Pick<UpvestClientDeps, 'tokens' | 'exchange' | 'clientId' | 'apiVersion' | 'logger'>,
  path: string,
  query: Record<string, string | number> | undefined,
  signal: AbortSignal | undefined,
) {
  let refreshed = false;
  for (;;) {
    const token = await deps.tokens.get();
    const response = await deps.exchange({
      method: 'GET',
      path,
      query,
      headers: {
        accept: 'application/json',
        authorization: `Bearer ${token}`,
        'upvest-client-id': deps.clientId,
        'upvest-api-version': deps.apiVersion,
      },
      signal,
    });
    if (response.status !== 401 || refreshed) return response;
    // The token expired early or was revoked: one fresh token, then a 401 is final.
    deps.tokens.invalidate(token);
    refreshed = true;
    deps.logger.info({ upvestRequestId: response.requestId }, `GET ${path}: token refused, fetching a new one`);
  }
}

/** A 404 in Upvest's own form: application/problem+json whose status says 404. */
function isUpvestNotFound(response: HttpResponse): boolean {
  const type = response.headers['content-type'];
  const contentType = (Array.isArray(type) ? type[0] : type)?.split(';')[0]?.trim().toLowerCase();
  if (contentType !== 'application/problem+json') return false;
  try {
    const problem: unknown = JSON.parse(response.body);
    return problem !== null && typeof problem === 'object' && (problem as { status?: unknown }).status === 404;
  } catch {
    return false;
  }
}

function parseJson(body: string, what: string, requestId: string | undefined): unknown {
  try {
    return JSON.parse(body);
  } catch (cause) {
    // A cut connection or a proxy's error page: worth another attempt.
    throw new UpvestError('UPVEST_BAD_BODY', `${what}: the body is not complete JSON (${body.length} bytes)`, {
      status: 200,
      requestId,
      cause,
    });
  }
}

/**
 * A page whose records are byte for byte those of a page decoded and accepted before (the
 * caller recognised their digest): only its meta is read now. `data` decodes and checks the
 * records on first read, should anyone need them after all.
 */
function recognisedPage(
  meta: PageEnvelope['meta'],
  recognised: RecognisedPage,
  digest: string,
  bytes: Buffer,
  what: string,
  requestId: string | undefined,
): AccountsPage {
  let data: unknown[] | undefined;
  return {
    meta,
    requestId,
    digest,
    retries: 0,
    recognised,
    get data() {
      data ??= parsePage(bytes.toString('utf8'), what, requestId).data;
      return data;
    },
  };
}

function parsePage(body: string, what: string, requestId: string | undefined): PageEnvelope {
  const json = parseJson(body, what, requestId);
  const envelope = pageEnvelope.safeParse(json);
  if (!envelope.success) {
    const problems = envelope.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`);
    throw new UpvestError('UPVEST_BAD_ENVELOPE', `${what}: unexpected page shape (${problems.join('; ')})`, {
      status: 200,
      requestId,
    });
  }
  return envelope.data;
}
