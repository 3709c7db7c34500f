// Webhook subscriptions as Upvest's API keeps them (POST/PATCH/GET/DELETE /webhooks), with the
// validation its published spec describes: title <= 100, url <= 1000 and https only (the
// simulator also takes http to a loopback address, for tests, and to any host when told to, for
// a receiver in a container network), type a list of categories,
// config.delay "<1-99><s|m>" of at most 30 s, config.max_package_size 100 .. 1048576 bytes.
import { randomUUID } from 'node:crypto';
import { formatMicros } from './time.js';

export interface WebhookConfig {
  delay: string;
  max_package_size: number;
}

export interface Subscription {
  id: string;
  created_at: string;
  updated_at: string;
  title: string;
  url: string;
  enabled: boolean;
  type: string[];
  config: WebhookConfig;
}

export const CATEGORIES = new Set([
  'ALL', 'USER', 'USER_CHECK', 'ORDER', 'ORDER_CANCELLATION', 'EXECUTION', 'POSITION', 'CASH_BALANCE', 'ACCOUNT',
  'ACCOUNT_GROUP', 'REPORT', 'TREASURY_REPORT', 'DIRECT_DEBIT', 'WITHDRAWAL', 'PORTFOLIO', 'PORTFOLIO_ALLOCATION',
  'PORTFOLIO_ORDER', 'CORPORATE_ACTION', 'ACCOUNT_VALUATION', 'INTRADAY_ACCOUNT_VALUATION', 'CASH_TRANSACTION',
  'SECURITY_TRANSACTION', 'ACCOUNT_LIQUIDATION', 'ACCOUNT_RETURNS', 'VIRTUAL_CASH_INCREASE', 'VIRTUAL_CASH_DECREASE',
  'FEE_COLLECTION',
]);

/** Upvest documents no defaults for an omitted config; these are the simulator's. */
export const DEFAULT_CONFIG: WebhookConfig = { delay: '1s', max_package_size: 1_048_576 };

const MUTABLE = ['title', 'url', 'enabled', 'type', 'config'];

/** Seconds of a delay such as "5s" or "1m". */
export function delaySeconds(delay: string): number {
  const match = /^([1-9][0-9]?)([sm])$/.exec(delay);
  if (!match) return Number.NaN;
  return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** A problem detail, or undefined when the fields are valid. */
function validate(fields: Record<string, unknown>, creating: boolean, allowHttp: boolean): string | undefined {
  for (const key of Object.keys(fields)) {
    if (!MUTABLE.includes(key) || (creating && key === 'enabled')) return `unknown field ${key}`;
  }
  if (creating && fields.title === undefined) return 'title is required';
  if (creating && fields.url === undefined) return 'url is required';
  const { title, url, enabled, type, config } = fields;
  if (title !== undefined && (typeof title !== 'string' || title.length === 0 || title.length > 100)) return 'title must be 1 to 100 characters';
  if (url !== undefined) {
    if (typeof url !== 'string' || url.length > 1000 || !URL.canParse(url)) return 'url must be a URL of at most 1000 characters';
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && (allowHttp || isLoopback(parsed.hostname)))) return 'url must be https';
  }
  if (enabled !== undefined && typeof enabled !== 'boolean') return 'enabled must be a boolean';
  if (type !== undefined) {
    if (!Array.isArray(type) || type.length === 0) return 'type must be a non-empty list of categories';
    const unknown = type.find((t) => typeof t !== 'string' || !CATEGORIES.has(t));
    if (unknown !== undefined) return `unknown type ${JSON.stringify(unknown)}`;
  }
  if (config !== undefined) {
    if (typeof config !== 'object' || config === null) return 'config must be an object';
    const { delay, max_package_size: size, ...rest } = config as Record<string, unknown>;
    if (Object.keys(rest).length > 0) return `unknown config field ${Object.keys(rest)[0]}`;
    if (typeof delay !== 'string' || !(delaySeconds(delay) <= 30)) return 'config.delay must be like "5s", at most 30s';
    if (!Number.isInteger(size) || (size as number) < 100 || (size as number) > 1_048_576) {
      return 'config.max_package_size must be an integer from 100 to 1048576';
    }
  }
  return undefined;
}

export class Subscriptions {
  private readonly byId = new Map<string, Subscription>();

  /** `allowHttp`: accept plain http URLs to any host, not only to loopback addresses. */
  constructor(
    private readonly now: () => number,
    private readonly allowHttp = false,
  ) {}

  create(fields: Record<string, unknown>): Subscription | string {
    const problem = validate(fields, true, this.allowHttp);
    if (problem) return problem;
    const at = formatMicros(Math.floor(this.now()) * 1000);
    const subscription: Subscription = {
      id: randomUUID(),
      created_at: at,
      updated_at: at,
      title: fields.title as string,
      url: fields.url as string,
      enabled: false,
      type: (fields.type as string[] | undefined) ?? ['ALL'],
      config: (fields.config as WebhookConfig | undefined) ?? { ...DEFAULT_CONFIG },
    };
    this.byId.set(subscription.id, subscription);
    return subscription;
  }

  update(id: string, fields: Record<string, unknown>): Subscription | string | undefined {
    const subscription = this.byId.get(id);
    if (!subscription) return undefined;
    const problem = validate(fields, false, this.allowHttp);
    if (problem) return problem;
    Object.assign(subscription, fields, { updated_at: formatMicros(Math.floor(this.now()) * 1000) });
    return subscription;
  }

  get(id: string): Subscription | undefined {
    return this.byId.get(id);
  }

  delete(id: string): boolean {
    return this.byId.delete(id);
  }

  /** Oldest first. */
  list(): Subscription[] {
    return [...this.byId.values()];
  }

  /** Enabled subscriptions whose type covers the category. */
  receiving(category: string): Subscription[] {
    return this.list().filter((s) => s.enabled && (s.type.includes('ALL') || s.type.includes(category)));
  }
}
