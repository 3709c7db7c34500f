// The health ports' credentials as configured: read from their files once, at start-up, so
// that a missing or unreadable file stops the start with the setting named, not a visitor.
import { readFileSync } from 'node:fs';
import { MIN_PASSWORD_LENGTH, MIN_TOKEN_LENGTH, type HealthAuthConfig, type SecretSource } from '../config/health.js';
import { ConfigError } from '../errors.js';
import { credentialsOf, type Credentials } from './access.js';

export interface LoadedCredentials {
  credentials: Credentials | null;
  /** The secret values, for the secret registry: never to be written anywhere. */
  secrets: string[];
}

export function loadCredentials(config: HealthAuthConfig, read: (path: string) => string = (path) => readFileSync(path, 'utf8')): LoadedCredentials {
  const problems: Array<{ key: string; message: string }> = [];
  const resolve = (source: SecretSource | undefined, min: number): string | undefined => {
    if (source === undefined || 'value' in source) return source?.value;
    let text: string;
    try {
      // A trailing newline (echo, an editor) is not part of the secret.
      text = read(source.file).replace(/\r?\n$/, '');
    } catch (error) {
      problems.push({ key: source.setting, message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
      return undefined;
    }
    if (text.length < min) problems.push({ key: source.setting, message: `must hold at least ${min} characters` });
    return text;
  };
  const token = resolve(config.token, MIN_TOKEN_LENGTH);
  const password = resolve(config.password, MIN_PASSWORD_LENGTH);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    credentials: credentialsOf({ token, user: config.user, password }),
    secrets: [token, password].filter((s): s is string => s !== undefined),
  };
}
