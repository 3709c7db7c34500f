// Appends strings straight into UTF-8 bytes. Joining a thousand account strings first would
// build one big rope that then has to be flattened and encoded again: measurably slower.

export class BufferBuilder {
  private buffer: Buffer;
  private used = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  append(text: string): void {
    // A UTF-16 unit never needs more than 3 UTF-8 bytes.
    const worst = this.used + text.length * 3;
    if (worst > this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(worst, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.used);
      this.buffer = grown;
    }
    this.used += this.buffer.write(text, this.used);
  }

  /** The bytes written so far (a view, not a copy: do not append afterwards). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.used);
  }
}
