// Switches that make the simulator's webhook sender misbehave, for tests and the soak. Each is
// armed for a number of uses: attempt switches apply to the next delivery attempts (each armed
// switch to each attempt, one use per attempt), batch switches to the next deliveries.

/** Apply to one attempt (one HTTP request). */
export type AttemptSwitch =
  /** Headers and half the body, then the connection is destroyed. */
  | 'cut-off'
  /** Signed with a key verify_keys does not list, under the current keyid. */
  | 'wrong-key'
  /** Signed with a fresh key under a keyid verify_keys does not list. */
  | 'unknown-key-id'
  /** Signed with the key withdrawn last (keyring.withdraw), under its kid. */
  | 'withdrawn-key'
  /** One byte of the body changed after signing (the digest no longer matches). */
  | 'tamper-body'
  /** The signature as raw r||s instead of DER. */
  | 'raw-signature';

/** Apply to one delivery (a batch and its retries). */
export type BatchSwitch =
  /** The delivery is sent again after it was answered 200. */
  | 'duplicate'
  /** The next delivery waits until the one after it has been delivered. */
  | 'reorder';

const ATTEMPT: ReadonlySet<string> = new Set(['cut-off', 'wrong-key', 'unknown-key-id', 'withdrawn-key', 'tamper-body', 'raw-signature']);

export class WebhookSwitches {
  /**
   * Whether a retry gets a fresh signature (new created, expires and nonce). Upvest does not say;
   * false makes retries carry the first attempt's signature, which ages.
   */
  resignRetries = true;
  private readonly armed = new Map<string, number>();

  arm(name: AttemptSwitch | BatchSwitch, times = 1): void {
    if (!(Number.isInteger(times) && times > 0)) throw new RangeError('times must be a positive whole number');
    this.armed.set(name, (this.armed.get(name) ?? 0) + times);
  }

  clear(): void {
    this.armed.clear();
    this.resignRetries = true;
  }

  /** The attempt switches for the next attempt, each used once. */
  takeAttempt(): AttemptSwitch[] {
    const out: AttemptSwitch[] = [];
    for (const [name, left] of this.armed) {
      if (!ATTEMPT.has(name)) continue;
      out.push(name as AttemptSwitch);
      if (left <= 1) this.armed.delete(name);
      else this.armed.set(name, left - 1);
    }
    return out;
  }

  peekBatch(name: BatchSwitch): boolean {
    return (this.armed.get(name) ?? 0) > 0;
  }

  takeBatch(name: BatchSwitch): boolean {
    const left = this.armed.get(name) ?? 0;
    if (left === 0) return false;
    if (left === 1) this.armed.delete(name);
    else this.armed.set(name, left - 1);
    return true;
  }
}
