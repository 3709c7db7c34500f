// REDIS_URL: the daemon's queue and schedule (`worker`, `trigger`).
import { section, withDefault } from './setting.js';
import { urlOf } from './values.js';

export interface RedisConfig {
  url: string;
}

export const redis = section(
  {
    REDIS_URL: withDefault(
      urlOf(['redis:', 'rediss:'], 'must be a redis:// or rediss:// URL'),
      'redis://127.0.0.1:6379',
      "Redis of the daemon's queue and schedule",
    ),
  },
  (v): RedisConfig => ({ url: v.REDIS_URL }),
);
