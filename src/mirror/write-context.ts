// Who writes the mirror's rows, and when: stamped on what is written.

/** Who writes, and when: stamped on what is written. */
export interface WriteContext {
  observedAt: Date;
  /** The sync run that writes; null for webhook events. */
  runId: bigint | null;
  /** For webhook events: the event each account's version comes from, by account id. */
  eventIds?: ReadonlyMap<string, string>;
  /** Whose version is written, for the history (account_changes): by default a sync's when runId is set, a webhook's otherwise. */
  source?: ChangeSource;
}

export type ChangeSource = 'sync' | 'webhook' | 'lookup';

export const sourceOf = (at: WriteContext): ChangeSource => at.source ?? (at.runId === null ? 'webhook' : 'sync');
