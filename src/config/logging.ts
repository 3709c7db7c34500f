// LOG_LEVEL of the JSON lines every command writes to standard error.
import { z } from 'zod';
import { LOG_LEVELS, type LogConfig } from '../logger.js';
import { section, withDefault } from './setting.js';

export type { LogConfig };

export const log = section(
  {
    LOG_LEVEL: withDefault(z.enum(LOG_LEVELS), 'info', `one of ${LOG_LEVELS.join(', ')}`),
  },
  (v): LogConfig => ({ level: v.LOG_LEVEL }),
);
