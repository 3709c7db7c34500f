// Writes lines to a stream at the pace the reader takes them: a follower piped into a slow
// consumer must not buffer the whole feed in memory. A stream that breaks (the reader went
// away: EPIPE) rejects the write in progress and every later one.
export interface LineWriter {
  write(line: string): Promise<void>;
}

export function createLineWriter(stream: NodeJS.WritableStream, signal?: AbortSignal): LineWriter {
  let failure: Error | undefined;
  stream.on('error', (error: Error) => {
    failure ??= error;
  });
  return {
    async write(line) {
      if (failure) throw failure;
      if (stream.write(`${line}\n`)) return;
      await new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          stream.off('drain', onDrain);
          stream.off('error', onError);
          signal?.removeEventListener('abort', onDrain);
        };
        const onDrain = () => {
          cleanup();
          resolve();
        };
        const onError = (error: Error) => {
          cleanup();
          reject(error);
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
        // Stopping must not wait for a reader that stopped reading.
        signal?.addEventListener('abort', onDrain, { once: true });
      });
    },
  };
}

/** Whether an error is the reader going away, which ends output quietly rather than as a failure. */
export function isBrokenPipe(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'EPIPE';
}
