// How every property test runs: a fresh seed each time (so the suite explores new cases on
// every run instead of the same ones forever), shrinking on (a failure is reported as its
// smallest counterexample), and the seed in the failure's first line, replayable with
// FC_SEED=<seed> (and FC_PATH=<path> to go straight to the shrunk counterexample).
import fc from 'fast-check';
import { onTestFailed } from 'vitest';

/** The seed of this run: FC_SEED when given (a replay), a fresh one otherwise. */
export function propertySeed(): number {
  const given = process.env.FC_SEED;
  if (given === undefined || given === '') return Math.floor(Math.random() * 0x7fffffff);
  const seed = Number(given);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`FC_SEED must be an integer (the seed a failure printed), not ${given}`);
  return seed;
}

/** fast-check's parameters: `numRuns` cases from the seed, shrinking on. */
export function propertyParameters<T>(numRuns: number, seed = propertySeed()): fc.Parameters<T> & { seed: number } {
  const path = process.env.FC_PATH;
  return { seed, numRuns, endOnFailure: false, ...(path ? { path } : {}) };
}

/** The line a failure starts with: how to run exactly this case again. */
export function replayHint(seed: number, error?: unknown): string {
  const path = error instanceof Error ? /path: "([^"]*)"/.exec(error.message)?.[1] : undefined;
  return `replay with FC_SEED=${seed}${path ? ` FC_PATH=${path}` : ''}`;
}

function withReplay(seed: number, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(`${replayHint(seed, error)}\n${message}`, { cause: error });
}

/**
 * Says the seed however the test fails: also when it times out while shrinking, or when a check
 * made after the runs fails (fast-check's own message has it only for a failed run).
 */
function printSeedOnFailure(seed: number): void {
  onTestFailed(() => {
    process.stderr.write(`property test failed: ${replayHint(seed)}\n`);
  });
}

/** fc.assert with propertyParameters; returns the seed, for the checks made after the runs. */
export function assertProperty<Ts>(property: fc.IProperty<Ts>, numRuns: number): number {
  const parameters = propertyParameters<Ts>(numRuns);
  printSeedOnFailure(parameters.seed);
  try {
    fc.assert(property, parameters);
  } catch (error) {
    throw withReplay(parameters.seed, error);
  }
  return parameters.seed;
}

/** fc.assert of an async property with propertyParameters; returns the seed. */
export async function assertAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, numRuns: number): Promise<number> {
  const parameters = propertyParameters<Ts>(numRuns);
  printSeedOnFailure(parameters.seed);
  try {
    await fc.assert(property, parameters);
  } catch (error) {
    throw withReplay(parameters.seed, error);
  }
  return parameters.seed;
}
