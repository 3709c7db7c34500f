// The secret values this process knows, so that none of them is ever written anywhere: logs,
// a run's stored error, a job's failed reason, a rejected record. Filled once per command from
// the settings it parsed (commands/command.ts: client secret, key passphrase, the passwords in
// DATABASE_URL and REDIS_URL), and every access token is added the moment it is received,
// because a server may echo one back in an error without the word "Bearer".
import { redactText } from './logger.js';

/** Very short values would blank out ordinary words; a real secret is never that short. */
const MIN_SECRET_LENGTH = 4;
/** Tokens are replaced every so often; the oldest ones beyond this many are long expired. */
const MAX_TOKENS = 100;

export class SecretRegistry {
  private readonly fixed = new Set<string>();
  private readonly tokens: string[] = [];
  private forms: string[] = [];

  constructor(values: ReadonlyArray<string | undefined> = []) {
    for (const value of values) this.addFixed(value);
  }

  /** Every secret among the settings a command parsed. */
  addSettings(settings: SecretSettings): this {
    for (const value of secretValuesOf(settings)) this.addFixed(value);
    return this;
  }

  /** A secret from the settings. */
  addFixed(value: string | undefined): void {
    if (value === undefined || value.length < MIN_SECRET_LENGTH || this.fixed.has(value)) return;
    this.fixed.add(value);
    this.rebuild();
  }

  /** An access token, as soon as it is received. */
  addToken(token: string): void {
    if (token.length < MIN_SECRET_LENGTH || this.tokens.includes(token)) return;
    this.tokens.push(token);
    if (this.tokens.length > MAX_TOKENS) this.tokens.shift();
    this.rebuild();
  }

  /** `text` with secret-shaped text and every known secret replaced. */
  redact = (text: string): string => redactText(text, this.forms);

  private rebuild(): void {
    const values = [...this.fixed, ...this.tokens];
    // As written in plain text, inside a JSON string (escaped), and in a URL (percent-encoded).
    this.forms = [...new Set(values.flatMap((s) => [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)]))]
      // Longest first, so that a secret containing another is replaced whole.
      .sort((a, b) => b.length - a.length);
  }
}

/** The password of a postgresql:// or redis:// URL, decoded, if it has one. */
export function urlPassword(url: string | undefined): string | undefined {
  if (!url || !URL.canParse(url)) return undefined;
  const password = new URL(url).password;
  if (!password) return undefined;
  try {
    return decodeURIComponent(password);
  } catch {
    return password;
  }
}

/** The settings that hold secrets, as each command has parsed them (any subset of sections). */
export interface SecretSettings {
  upvest?: { clientSecret: string; signingKeyPassphrase: string | undefined };
  database?: { url: string };
  redis?: { url: string };
}

function secretValuesOf(settings: SecretSettings): Array<string | undefined> {
  return [
    settings.upvest?.clientSecret,
    settings.upvest?.signingKeyPassphrase,
    urlPassword(settings.database?.url),
    urlPassword(settings.redis?.url),
  ];
}
