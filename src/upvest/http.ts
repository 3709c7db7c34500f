// One signed HTTP exchange with Upvest, and the translation of its outcome into UpvestError.
// No retries here: upvest/retry.ts is the only retry layer, and got's own retry stays off.
import got, { RequestError, TimeoutError, type Got, type Request } from 'got';
import { UpvestError, type ProblemDetails } from '../errors.js';
import type { Signer } from './signing.js';

export interface HttpOptions {
  baseUrl: string;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Largest body read, counted after decompression: a small gzip body can unpack to gigabytes. */
  maxResponseBytes: number;
  signer: Signer;
  userAgent?: string;
}

export interface SignedRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number>;
  headers: Record<string, string>;
  body?: Buffer;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  requestId: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  /** The body as received (decompressed). */
  bytes: Buffer;
  /** The body as text (UTF-8), decoded on first use. */
  readonly body: string;
}

export type HttpExchange = (request: SignedRequest) => Promise<HttpResponse>;

export function createHttpExchange(options: HttpOptions, client: Got = got): HttpExchange {
  const base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  return async (request) => {
    const url = new URL(request.path.replace(/^\//, ''), base);
    for (const [name, value] of Object.entries(request.query ?? {})) url.searchParams.append(name, String(value));
    const headers: Record<string, string> = {
      'user-agent': options.userAgent ?? 'account-sync',
      ...request.headers,
    };
    Object.assign(headers, await options.signer({ method: request.method, url, headers, body: request.body }));
    const stream = client.stream(url, {
      method: request.method,
      headers,
      body: request.body,
      signal: request.signal,
      throwHttpErrors: false,
      followRedirect: false,
      decompress: true,
      retry: { limit: 0 },
      timeout: {
        lookup: options.connectTimeoutMs,
        connect: options.connectTimeoutMs,
        secureConnect: options.connectTimeoutMs,
        request: options.requestTimeoutMs,
      },
    });
    // got's stream sends a request without a body only once its writable side is ended (it does
    // so itself for GET); a body given in the options is written and ended by got.
    if (request.body === undefined && request.method !== 'GET') stream.end();
    try {
      return await readCapped(stream, options.maxResponseBytes, request);
    } catch (error) {
      if (error instanceof UpvestError) throw error;
      throw transportError(error, request);
    }
  };
}

/**
 * Reads the answer, never holding more than `maxBytes` of body: past that the request is
 * dropped and the exchange fails (not retried: the same server would send the same again).
 */
function readCapped(stream: Request, maxBytes: number, request: SignedRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      stream.destroy();
      reject(error);
    };
    let status = 0;
    let headers: HttpResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const tooLarge = (what: string) =>
      new UpvestError(
        'UPVEST_RESPONSE_TOO_LARGE',
        `${request.method} ${request.path}: the answer ${what}, more than UPVEST_MAX_RESPONSE_BYTES (${maxBytes} bytes)`,
        { status, requestId: headerValue(headers['upvest-request-id']) },
      );
    stream.on('response', (response: { statusCode: number; headers: HttpResponse['headers'] }) => {
      status = response.statusCode;
      headers = response.headers;
      const declared = Number(headers['content-length']);
      if (headers['content-encoding'] === undefined && declared > maxBytes) fail(tooLarge(`declares ${declared} bytes`));
    });
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > maxBytes) return fail(tooLarge('body is larger'));
      chunks.push(chunk);
    });
    stream.once('error', fail);
    stream.once('end', () => {
      if (settled) return;
      settled = true;
      // got's requests are not destroyed by themselves; this releases the abort listener it
      // put on the run's signal (and its timers), as its promise API does.
      stream.destroy();
      resolve(responseOf(status, headers, Buffer.concat(chunks, size)));
    });
  });
}

/** The body is decoded only when asked for: a page's is parsed once and not kept as text. */
function responseOf(status: number, headers: HttpResponse['headers'], bytes: Buffer): HttpResponse {
  let text: string | undefined;
  return {
    status,
    requestId: headerValue(headers['upvest-request-id']),
    headers,
    bytes,
    get body() {
      text ??= bytes.toString('utf8');
      return text;
    },
  };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A request that got no complete answer: timeouts, resets, refused connections, cut bodies. */
function transportError(error: unknown, request: SignedRequest): UpvestError {
  const where = `${request.method} ${request.path}`;
  const requestId = error instanceof RequestError ? headerValue(error.response?.headers['upvest-request-id']) : undefined;
  if (error instanceof TimeoutError) {
    return new UpvestError('UPVEST_TIMEOUT', `${where}: no answer within the ${error.event} timeout`, {
      cause: error,
      requestId,
    });
  }
  const code = error instanceof RequestError ? error.code : undefined;
  return new UpvestError(
    'UPVEST_NETWORK',
    `${where}: ${code ?? 'request failed'}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error, requestId },
  );
}

const STATUS_CODES = {
  400: 'UPVEST_BAD_REQUEST',
  401: 'UPVEST_UNAUTHORIZED',
  403: 'UPVEST_FORBIDDEN',
  404: 'UPVEST_NOT_FOUND',
  406: 'UPVEST_NOT_ACCEPTABLE',
  426: 'UPVEST_VERSION_RETIRED',
  429: 'UPVEST_RATE_LIMITED',
} as const;

/** Turns a non-2xx answer into an UpvestError carrying the problem+json detail. */
export function statusError(response: HttpResponse, what: string, now: () => number = Date.now): UpvestError {
  const problem = parseProblem(response.body);
  const code =
    STATUS_CODES[response.status as keyof typeof STATUS_CODES] ??
    (response.status >= 500 ? 'UPVEST_SERVER_ERROR' : 'UPVEST_UNEXPECTED_STATUS');
  const explanation = [problem?.title, problem?.detail ?? problem?.details].filter(Boolean).join(': ');
  return new UpvestError(
    code,
    `${what}: HTTP ${response.status}${explanation ? ` ${explanation}` : ''}${
      response.requestId ? ` (upvest-request-id ${response.requestId})` : ''
    }`,
    {
      status: response.status,
      requestId: response.requestId ?? problem?.request_id,
      problem,
      retryAfterMs: parseRetryAfter(headerValue(response.headers['retry-after']), now),
    },
  );
}

function parseProblem(body: string): ProblemDetails | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const pick = (key: string) => {
        const value = (parsed as Record<string, unknown>)[key];
        return typeof value === 'string' ? value : undefined;
      };
      return {
        type: pick('type'),
        title: pick('title'),
        detail: pick('detail'),
        details: pick('details'),
        instance: pick('instance'),
        request_id: pick('request_id'),
      };
    }
  } catch {
    // not problem+json: the status alone has to do
  }
  return undefined;
}

/** Retry-After is either delay-seconds or an HTTP date (RFC 9110 section 10.2.3). */
export function parseRetryAfter(value: string | undefined, now: () => number = Date.now): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now());
}
