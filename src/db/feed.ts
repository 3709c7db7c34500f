// The change feed's contract with its consumers (see docs/analysts.md, "Change feed").

/** Channel of the NOTIFY sent by every transaction that adds status changes. */
export const FEED_CHANNEL = 'account_status_changes';

/**
 * Channel of the NOTIFY sent (by a trigger) by every transaction that adds field changes
 * (account_changes): a channel of its own, so that status consumers hear nothing new.
 */
export const FIELD_FEED_CHANNEL = 'account_changes';

/**
 * Transaction-level advisory lock taken right before status changes are inserted. Ids come
 * from a sequence, and sequences hand out values in call order, not commit order: without the
 * lock, a consumer reading `id > cursor` could see id 11 commit before id 10 and move past 10.
 * Holding the lock from the first nextval() to commit makes ids become visible in order.
 */
export const FEED_LOCK_KEY = 0x61737363n;
