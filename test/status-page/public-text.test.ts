// What the status page and Bull Board show of an error text: what went wrong, not where.
import { describe, expect, it } from 'vitest';
import { publicJson, publicText } from '../../src/status-page/public-text.js';

describe('publicText', () => {
  it.each([
    ['POST /auth/token: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1', 'POST /auth/token: connection refused'],
    ['GET /accounts offset=0: getaddrinfo ENOTFOUND sandbox.upvest.co', 'GET /accounts offset=0: host not found'],
    ['read ECONNRESET after 3 attempts', 'connection reset after 3 attempts'],
    ['connect ETIMEDOUT [2001:db8::1]:443', 'timed out'],
    ["Can't reach database server at `db.internal:5432`", "Can't reach database server at `<host>`"],
    ['redis:6379 went away; postgresql://u:p@postgres:5432/db refused', '<host> went away; <url> refused'],
    ['Error: boom\n    at run (/app/dist/sync/run.js:12:3)\n    at next (node:internal/process/task_queues:95:5)', 'Error: boom'],
    ['cannot read /work/keys/upvest.pem: EACCES; see src/config/health.ts:12', 'cannot read <path>: EACCES; see <path>'],
    ['listening on fe80::1%eth0 and fd00::2, pid 4711, port 9464', 'listening on <address> and <address>, pid <n>, port <n>'],
  ])('%j -> %j', (text, shown) => {
    expect(publicText(text)).toBe(shown);
  });

  it('keeps what says what went wrong: API paths, codes, statuses, request ids, times', () => {
    const text = 'GET /accounts offset=2000: HTTP 429 Too Many Requests (upvest-request-id 5b0d7a8e-2f6c-4e1b-9a3d-c4e8f1a27b90) at 2026-12-07T10:11:12.123Z';
    expect(publicText(text)).toBe(text);
  });

  it('goes through every string of a JSON value', () => {
    expect(publicJson({ a: ['connect ECONNREFUSED 10.0.0.5:6379', 3], b: { c: 'http://x.example/y' }, d: null })).toEqual({
      a: ['connection refused', 3],
      b: { c: '<url>' },
      d: null,
    });
  });
});
