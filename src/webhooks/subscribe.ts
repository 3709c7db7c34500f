// Subscribing a URL to Upvest's webhooks the way Upvest's own tooling does: create the
// subscription (Upvest creates it disabled), then enable it with a PATCH. Creating is tried
// once, since it is not idempotent: a retried create after a lost answer would subscribe twice.
import { AccountSyncError, errorMessageOf } from '../errors.js';
import type { Webhook, WebhooksApi } from '../upvest/webhooks-api.js';

export interface SubscriptionRequest {
  url: string;
  /** Categories, e.g. ["ACCOUNT"]. */
  types: string[];
  title: string;
  /** Upvest's batching delay, "1s" (its minimum) to "30s". */
  delay: string;
  maxPackageSize: number;
}

export const SUBSCRIPTION_DEFAULTS = { types: ['ACCOUNT'], title: 'account-sync', delay: '1s', maxPackageSize: 1_048_576 } as const;

/** Created, but the PATCH that enables it failed: it exists at Upvest, disabled. */
export class SubscriptionNotEnabledError extends AccountSyncError {
  override readonly name = 'SubscriptionNotEnabledError';

  constructor(
    readonly webhookId: string,
    cause: unknown,
  ) {
    super('WEBHOOK_SUBSCRIPTION_NOT_ENABLED', `created ${webhookId} but could not enable it: ${errorMessageOf(cause)}`, { cause });
  }
}

/** The subscription, enabled; needs a token with webhooks:admin. */
export async function subscribe(api: Pick<WebhooksApi, 'create' | 'update'>, request: SubscriptionRequest): Promise<Webhook> {
  const created = await api.create({
    title: request.title,
    url: request.url,
    type: request.types,
    config: { delay: request.delay, max_package_size: request.maxPackageSize },
  });
  try {
    return await api.update(created.id, { enabled: true });
  } catch (error) {
    throw new SubscriptionNotEnabledError(created.id, error);
  }
}
