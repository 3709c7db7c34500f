import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgressDisplay } from '../../src/sync/progress.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk) => (text += chunk));
  return { stream, text: () => text };
}

describe('progress display', () => {
  it('redraws one line on a terminal at most every 100 ms, and ends on where the run ended', () => {
    const out = capture();
    let time = 0;
    const display = createProgressDisplay(out.stream, true, () => time);
    time = 1000;
    display.update({ runId: 1n, pagesDone: 1, accountsDone: 1000, totalCount: 4000 });
    time = 1050;
    display.update({ runId: 1n, pagesDone: 2, accountsDone: 1999, totalCount: 4000 });
    time = 2000;
    display.update({ runId: 1n, pagesDone: 5, accountsDone: 4000, totalCount: 4000 });
    time = 2010;
    display.update({ runId: 1n, pagesDone: 5, accountsDone: 4000, totalCount: 4000 });
    display.done();
    expect(out.text()).toBe(
      `\r[########......................] 25%  1000/4000 accounts  1 pages  1000/s   ` +
        `\r[##############################] 100%  4000/4000 accounts  5 pages  2000/s   ` +
        `\r[##############################] 100%  4000/4000 accounts  5 pages  1990/s   \n`,
    );
  });

  it('writes nothing at all where output is not a terminal', () => {
    const out = capture();
    const display = createProgressDisplay(out.stream, false);
    display.update({ runId: 1n, pagesDone: 1, accountsDone: 10, totalCount: 10 });
    display.done();
    expect(out.text()).toBe('');
  });
});
