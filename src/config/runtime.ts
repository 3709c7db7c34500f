// ACCOUNT_SYNC_V8_FLAGS: how the process runs its JavaScript engine, set by the program itself
// at start, so that a user running `account-sync` as it comes gets the memory figures
// docs/performance.md gives, without a flag of their own.
import { z } from 'zod';
import { section, withDefault } from './setting.js';

export interface RuntimeConfig {
  /** V8 flags set at start-up (v8.setFlagsFromString), before anything is compiled. */
  v8Flags: string[];
}

/**
 * --liftoff-only: Prisma's query compiler is a WebAssembly module, which V8 would compile a
 * second time with its optimising compiler in the background; the account statements are raw
 * SQL, so the baseline compiler is plenty. --heap-growing-percent=20: after each full
 * collection the heap may grow 20% past what is live, instead of up to four times; a sync's
 * live heap is small and steady (pages in flight), so this halves peak RSS for about a fifth
 * more time in the collector. (--optimize-for-size, which does the same and more, doubled the
 * CPU time of a sync.)
 */
export const DEFAULT_V8_FLAGS = '--liftoff-only --heap-growing-percent=20';

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
