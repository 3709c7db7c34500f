// How settings' text is read: the few shapes every section uses, with the messages people see.
import { z } from 'zod';

export function wholeNumber(min: number, max: number) {
  return z
    .string()
    .trim()
    .regex(/^-?\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { message: `must be at least ${min}` })
        .max(max, { message: `must be at most ${max}` }),
    );
}

export const trueOrFalse = z.enum(['true', 'false'], { message: 'must be true or false' }).transform((value) => value === 'true');

/** A required text: blank counts as unset. */
export const nonBlank = z.string().trim().min(1, { message: 'is required' });

export const positiveNumber = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, { message: 'must be a positive number' })
  .transform(Number)
  .pipe(z.number().positive({ message: 'must be a positive number' }));

/** Whether `value` parses as a URL with one of `protocols` (e.g. 'https:'). */
export function hasProtocol(value: string, protocols: readonly string[]): boolean {
  return URL.canParse(value) && protocols.includes(new URL(value).protocol);
}

export function urlOf(protocols: readonly string[], message: string) {
  return z
    .string()
    .trim()
    .refine((value) => hasProtocol(value, protocols), { message });
}
