// The simulator's misbehaviour during the soak: about one request in five fails, in every way
// the client must survive (each kind equally likely), and now and then Upvest is down for a
// few seconds (every request answered 503, or 429 without Retry-After).
import type { Fault, Simulator } from '../src/simulator/index.js';
import type { Prng } from '../src/simulator/hash.js';

export const FAULT_PROBABILITY = 0.2;

const HTML_502 = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>';

export const FAULT_KINDS: Fault[] = [
  { kind: 'status', status: 429 },
  { kind: 'status', status: 429, retryAfter: '1' },
  { kind: 'status', status: 500 },
  { kind: 'status', status: 502 },
  { kind: 'status', status: 503 },
  { kind: 'status', status: 504 },
  { kind: 'status', status: 502, body: HTML_502, contentType: 'text/html' },
  { kind: 'reset' },
  { kind: 'truncate' },
  { kind: 'nonjson' },
  { kind: 'latency', ms: 300 },
  { kind: 'latency', ms: 1_500 },
  // Longer than UPVEST_REQUEST_TIMEOUT_MS: the client gives up and asks again.
  { kind: 'latency', ms: 4_500 },
];

export function setUpstreamFaults(simulator: Simulator, prng: Prng): void {
  simulator.faults.setRandom({ probability: FAULT_PROBABILITY, kinds: FAULT_KINDS, seed: prng.int(1 << 30), path: '*' });
}

export function upstreamOutage(simulator: Simulator, prng: Prng): void {
  const kind: Fault = prng.next() < 0.5 ? { kind: 'status', status: 503 } : { kind: 'status', status: 429 };
  simulator.faults.setRandom({ probability: 1, kinds: [kind], seed: prng.int(1 << 30), path: '*' });
}
