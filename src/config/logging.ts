// LOG_LEVEL of the JSON lines every command writes to standard error.
import { z } from 'zod';
import { LOG_LEVELS, type LogConfig } from '../logger.js';
import { section, withDefault } from './setting.js';

export type { LogConfig };

const LEVELS = `${LOG_LEVELS.slice(0, -1).join(', ')} or ${LOG_LEVELS.at(-1)}`;

export const log = section(
  {
    LOG_LEVEL: withDefault(z.enum(LOG_LEVELS, { message: `must be one of ${LEVELS}` }), 'info', `how much is logged: ${LEVELS}`),
  },
  (v): LogConfig => ({ level: v.LOG_LEVEL }),
);
