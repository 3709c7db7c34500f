// RFC 7807 problem documents shaped like Upvest's error answers.

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const SLUGS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  426: 'upgrade_required',
  429: 'too_many_requests',
  500: 'internal_server_error',
  502: 'bad_gateway',
  503: 'service_unavailable',
  504: 'gateway_timeout',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface Problem {
  type: string;
  status: number;
  title: string;
  detail: string;
  instance: string;
  request_id: string;
}

export function problemTitle(status: number): string {
  return TITLES[status] ?? `HTTP ${status}`;
}

export function problem(status: number, detail: string, requestId: string, path: string): Problem {
  return {
    type: `https://docs.upvest.co/errors/${SLUGS[status] ?? `http_${status}`}`,
    status,
    title: problemTitle(status),
    detail,
    instance: `${path}#${requestId}`,
    request_id: requestId,
  };
}
