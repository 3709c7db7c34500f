// ACCOUNT_SYNC_V8_FLAGS: how the process runs its JavaScript engine, set by the program itself
// at start, so that a user running `account-sync` as it comes gets the memory figures the
// README gives, without a flag of their own.
import { z } from 'zod';
import { section, withDefault } from './setting.js';

export interface RuntimeConfig {
  /** V8 flags set at start-up (v8.setFlagsFromString), before anything is compiled. */
  v8Flags: string[];
}

/**
 * --liftoff-only: Prisma's query compiler is a large WebAssembly module, which V8 would compile
 * a second time with its optimising compiler in the background (about 45 MB more); the account
 * statements are raw SQL, so the baseline compiler is plenty. --optimize-for-size: the heap
 * grows little past what is live, instead of up to four times (peak RSS down by about half).
 */
export const DEFAULT_V8_FLAGS = '--liftoff-only --optimize-for-size';

const flags = z
  .string()
  .trim()
  // Unset or empty means the default; "none" means no flag at all.
  .transform((value) => (value === 'none' ? [] : value.split(/\s+/).filter((flag) => flag !== '')))
  .refine((list) => list.every((flag) => /^--[a-z0-9-]+(=[^\s]+)?$/.test(flag)), { message: 'must be V8 flags such as --optimize-for-size' });

export const runtime = section(
  {
    ACCOUNT_SYNC_V8_FLAGS: withDefault(
      flags,
      DEFAULT_V8_FLAGS,
      'V8 flags the program sets for itself at start (they keep memory low; "none" for V8\'s defaults)',
    ),
  },
  (v): RuntimeConfig => ({ v8Flags: v.ACCOUNT_SYNC_V8_FLAGS }),
);
