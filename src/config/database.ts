// DATABASE_URL: the mirror's PostgreSQL. A `?schema=` puts the mirror in that schema: migrate
// creates it, and every connection account-sync opens has it as its search_path (src/db).
import { required, section } from './setting.js';
import { hasProtocol, nonBlank } from './values.js';

export interface DatabaseConfig {
  url: string;
}

/** PostgreSQL truncates longer identifiers, which would put the mirror somewhere unasked for. */
const MAX_SCHEMA_BYTES = 63;

const postgresUrl = nonBlank
  .refine((value) => hasProtocol(value, ['postgresql:', 'postgres:']), { message: 'must be a postgresql:// URL' })
  .superRefine((value, context) => {
    const problem = schemaProblem(value);
    if (problem) context.addIssue({ code: 'custom', message: problem });
  });

function schemaProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const schemas = new URL(value).searchParams.getAll('schema');
  if (schemas.length === 0) return undefined;
  if (schemas.length > 1) return 'must set ?schema= at most once';
  const schema = schemas[0]!;
  if (schema.length === 0) return 'must not set an empty ?schema=';
  if (Buffer.byteLength(schema) > MAX_SCHEMA_BYTES) return `must name a ?schema= of at most ${MAX_SCHEMA_BYTES} bytes`;
  return undefined;
}

export const database = section(
  {
    DATABASE_URL: required(postgresUrl, 'PostgreSQL URL of the mirror, optionally with ?schema='),
  },
  (v): DatabaseConfig => ({ url: v.DATABASE_URL }),
);
