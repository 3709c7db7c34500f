// Error texts as the status page and Bull Board show them: whoever may look at them need not
// learn where things run. A run's stored error (already scrubbed of secrets) keeps what went
// wrong and drops where: "POST /auth/token: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1"
// becomes "POST /auth/token: connection refused". Host names, addresses, ports, URLs, file paths
// and stack frames are replaced; API paths such as /auth/token stay.

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
  ESOCKETTIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EADDRINUSE: 'address in use',
};
const ERRNO = Object.keys(NETWORK_ERRORS).join('|');
/** System calls whose message is followed by the address or host they were about. */
const ABOUT_AN_ADDRESS = 'connect|getaddrinfo|querySrv|queryA|queryAaaa|lookup';

const MAX_LENGTH = 2_000;

const REPLACEMENTS: Array<[RegExp, string | ((...groups: string[]) => string)]> = [
  // Stack frames: "    at fn (/app/dist/x.js:1:2)" lines.
  [/\n\s*at [^\n]*/g, ''],
  // "ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1", "connect ECONNREFUSED 10.0.0.1:443",
  // "getaddrinfo ENOTFOUND sandbox.upvest.co", "read ECONNRESET".
  [new RegExp(`\\b(${ERRNO})(?::\\s*|\\s+)(?:${ABOUT_AN_ADDRESS})\\s+\\1\\b(?:\\s+[^\\s,;()]+)?`, 'g'), (_m, code) => NETWORK_ERRORS[code!]!],
  [new RegExp(`\\b(?:${ABOUT_AN_ADDRESS})\\s+(${ERRNO})\\b(?:\\s+[^\\s,;()]+)?`, 'g'), (_m, code) => NETWORK_ERRORS[code!]!],
  [new RegExp(`\\b(?:read|write)\\s+(${ERRNO})\\b`, 'g'), (_m, code) => NETWORK_ERRORS[code!]!],
  [new RegExp(`\\b(${ERRNO})\\b`, 'g'), (_m, code) => NETWORK_ERRORS[code!]!],
  // URLs of any scheme (user and password included).
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`<>()]+/gi, '<url>'],
  // File paths: under a well-known root, or ending in a file name with an extension we ship or read.
  [/(?<![\w/])(?:file:\/\/)?\/(?:app|home|root|usr|opt|srv|var|tmp|work|etc|proc|mnt|run|Users|node_modules)(?:\/[^\s'"`:()]*)?/g, '<path>'],
  [/(?<![\w/])(?:\.{0,2}\/)?(?:[\w.@+-]+\/)+[\w.@+-]+\.(?:m?js|cjs|ts|json|node|pem|key|sql|so)\b(?::\d+(?::\d+)?)?/g, '<path>'],
  [/\bnode:internal\/[^\s)]*/g, '<path>'],
  [/\b[A-Za-z]:\\[^\s'"`]*/g, '<path>'],
  // IPv6 addresses, in brackets or bare (with "::", or all eight groups), with a port or not.
  [/\[[0-9a-f:.%\w]*:[0-9a-f:.%\w]*\](?::\d{1,5})?/gi, '<address>'],
  [/(?<![\w:])(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?(?:%\w+)?(?![\w:])/gi, '<address>'],
  [/(?<![\w:])[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){7}(?![\w:])/gi, '<address>'],
  // IPv4 addresses, with a port or not.
  [/(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])/g, '<address>'],
  // host:port, a single-label host included (postgres:5432, redis:6379).
  [/(?<![\w.@/-])[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*:\d{2,5}\b/gi, '<host>'],
  // Dotted host names (sandbox.upvest.co, db.internal.example).
  [/(?<![\w.@/-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}(?![\w.-])/gi, '<host>'],
  // "port 5432", "pid 4711".
  [/\b(port|pid)(\s*[=:]?\s*)\d+\b/gi, (_m, word, sep) => `${word}${sep}<n>`],
];

/** `text` without hosts, addresses, ports, URLs, file paths or stack frames; on one line. */
export function publicText(text: string): string {
  let out = text;
  for (const [pattern, replacement] of REPLACEMENTS) out = out.replace(pattern, replacement as string);
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > MAX_LENGTH ? `${out.slice(0, MAX_LENGTH)}…` : out;
}

/** A value as served: every string in it through publicText. */
export function publicJson(value: unknown): unknown {
  if (typeof value === 'string') return publicText(value);
  if (Array.isArray(value)) return value.map(publicJson);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, publicJson(item)]));
  }
  return value;
}
