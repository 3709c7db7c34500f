// Two descriptions of the mirror's tables in one shape, so that they can be compared: what
// prisma/schema.prisma models (read here; the generated client's own data model confirms the
// reading) and what the migrations made in PostgreSQL (read from pg_catalog). The shape is the
// one Prisma's PostgreSQL connector gives a model: columns with their native types, nullability
// and defaults, the primary key, unique indexes, foreign keys and indexes, each under the name
// Prisma would give it.
import { readFileSync } from 'node:fs';
import type { Client } from 'pg';

/** One table as Prisma models it, or as PostgreSQL holds it. Every entry is one line of text. */
export interface TableShape {
  /** `name type [NOT NULL] [DEFAULT x]`, in column order by name. */
  columns: string[];
  /** `name (a, b)` */
  primaryKey: string | null;
  /** `name (a, b)` of every unique index (constraints included) that is neither partial nor on expressions. */
  uniques: string[];
  /** `name (a) -> table (b) ON DELETE x ON UPDATE y` */
  foreignKeys: string[];
  /** `name (a, b DESC)` of every other index that Prisma can express (no predicate, no expressions). */
  indexes: string[];
}

// ---------------------------------------------------------------------------------------------
// prisma/schema.prisma

export interface SchemaField {
  name: string;
  /** @map, or the field's name. */
  column: string;
  type: string;
  optional: boolean;
  list: boolean;
  /** A scalar, or a relation to another model. */
  kind: 'scalar' | 'object';
  /** @db.X, e.g. `Timestamptz(6)`, `Uuid`. */
  nativeType?: string;
  /** The text inside @default(...). */
  default?: string;
  id: boolean;
  /** @unique, with its map: when given. */
  unique?: { map?: string };
  /** @relation(fields: ..., references: ...) on the side that holds the foreign key. */
  relation?: { fields: string[]; references: string[]; onDelete?: string; onUpdate?: string; map?: string };
}

export interface SchemaModel {
  name: string;
  /** @@map, or the model's name. */
  table: string;
  fields: SchemaField[];
  id?: { fields: string[]; map?: string };
  uniques: Array<{ fields: string[]; map?: string }>;
  indexes: Array<{ fields: Array<{ name: string; desc: boolean }>; map?: string }>;
}

const SCALARS = new Set(['String', 'Int', 'BigInt', 'Boolean', 'DateTime', 'Json', 'Float', 'Decimal', 'Bytes']);

/** The attributes of a line (`@id`, `@db.Uuid`, `@@index([...], map: "x")`): name and argument text. */
function attributesOf(text: string): Array<{ name: string; args: string }> {
  const found: Array<{ name: string; args: string }> = [];
  let i = 0;
  while ((i = text.indexOf('@', i)) >= 0) {
    const name = /^@@?[\w.]+/.exec(text.slice(i))![0];
    i += name.length;
    let args = '';
    if (text[i] === '(') {
      let depth = 0;
      const start = i;
      for (; i < text.length; i++) {
        if (text[i] === '(') depth++;
        if (text[i] === ')' && --depth === 0) break;
        if (text[i] === '"') i = text.indexOf('"', i + 1);
      }
      args = text.slice(start + 1, i);
      i++;
    }
    found.push({ name, args });
  }
  return found;
}

/** The items of the first `[...]` of an argument list, split at top-level commas. */
function listArgument(args: string, key?: string): string[] {
  const at = key === undefined ? args.indexOf('[') : args.search(new RegExp(`\\b${key}\\s*:\\s*\\[`));
  if (at < 0) return [];
  const open = args.indexOf('[', at);
  let depth = 0;
  let end = open;
  for (; end < args.length; end++) {
    if (args[end] === '[' || args[end] === '(') depth++;
    if ((args[end] === ']' || args[end] === ')') && --depth === 0) break;
  }
  const items: string[] = [];
  let item = '';
  depth = 0;
  for (const ch of args.slice(open + 1, end)) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      items.push(item.trim());
      item = '';
    } else item += ch;
  }
  if (item.trim()) items.push(item.trim());
  return items;
}

const named = (args: string, key: string): string | undefined => new RegExp(`\\b${key}\\s*:\\s*"?([\\w.]+)"?`).exec(args)?.[1];

/** The models of a schema file. Comments are dropped; `///` documentation too. */
export function parseSchema(text: string): SchemaModel[] {
  const models: SchemaModel[] = [];
  const lines = text.split('\n').map((line) => line.replace(/\/\/.*$/, '').trim());
  for (let i = 0; i < lines.length; i++) {
    const head = /^model\s+(\w+)\s*\{$/.exec(lines[i]!);
    if (!head) continue;
    const model: SchemaModel = { name: head[1]!, table: head[1]!, fields: [], uniques: [], indexes: [] };
    for (i++; lines[i] !== '}'; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      if (line.startsWith('@@')) {
        for (const { name, args } of attributesOf(line)) {
          const map = named(args, 'map');
          const fields = listArgument(args);
          if (name === '@@map') model.table = /"([^"]+)"/.exec(args)![1]!;
          else if (name === '@@id') model.id = { fields, map };
          else if (name === '@@unique') model.uniques.push({ fields, map });
          else if (name === '@@index') {
            const columns = fields.map((f) => ({ name: /^\w+/.exec(f)![0], desc: /sort:\s*Desc/.test(f) }));
            model.indexes.push({ fields: columns, map });
          } else throw new Error(`model ${model.name}: unknown block attribute ${name}`);
        }
        continue;
      }
      const m = /^(\w+)\s+(\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!m) throw new Error(`model ${model.name}: cannot read "${line}"`);
      const field: SchemaField = {
        name: m[1]!,
        column: m[1]!,
        type: m[2]!,
        list: m[3] !== undefined,
        optional: m[4] !== undefined,
        kind: SCALARS.has(m[2]!) ? 'scalar' : 'object',
        id: false,
      };
      for (const { name, args } of attributesOf(m[5]!)) {
        if (name === '@map') field.column = /"([^"]+)"/.exec(args)![1]!;
        else if (name === '@id') field.id = true;
        else if (name === '@unique') field.unique = { map: named(args, 'map') };
        else if (name === '@default') field.default = args.trim();
        else if (name.startsWith('@db.')) field.nativeType = name.slice(4) + (args ? `(${args})` : '');
        else if (name === '@relation') {
          const fields = listArgument(args, 'fields');
          if (fields.length > 0) {
            field.relation = {
              fields,
              references: listArgument(args, 'references'),
              onDelete: named(args, 'onDelete'),
              onUpdate: named(args, 'onUpdate'),
              map: named(args, 'map'),
            };
          }
        } else throw new Error(`model ${model.name}: unknown attribute ${name} on ${field.name}`);
      }
      model.fields.push(field);
    }
    models.push(model);
  }
  return models;
}

/** The data model the generated client runs on (names, kinds, types and column names of the fields). */
export function generatedDataModel(file = 'src/generated/prisma/internal/class.ts'): Record<string, { dbName: string | null; fields: Array<{ name: string; kind: string; type: string; dbName?: string }> }> {
  const literal = /runtimeDataModel = JSON\.parse\(("(?:[^"\\]|\\.)*")\)/.exec(readFileSync(file, 'utf8'));
  if (!literal) throw new Error(`${file} holds no runtimeDataModel: run npm run generate`);
  return (JSON.parse(JSON.parse(literal[1]!) as string) as { models: ReturnType<typeof generatedDataModel> }).models;
}

/** The PostgreSQL type Prisma's connector gives a field. */
function nativeTypeOf(field: SchemaField): string {
  const native = field.nativeType;
  let type: string;
  if (native === undefined) {
    const defaults: Record<string, string> = {
      String: 'text',
      Int: 'integer',
      BigInt: 'bigint',
      Boolean: 'boolean',
      DateTime: 'timestamp(3) without time zone',
      Json: 'jsonb',
      Float: 'double precision',
      Decimal: 'numeric(65,30)',
      Bytes: 'bytea',
    };
    type = defaults[field.type]!;
  } else {
    const [, name, args] = /^(\w+)(?:\((.*)\))?$/.exec(native)!;
    const natives: Record<string, string> = {
      Uuid: 'uuid',
      Text: 'text',
      SmallInt: 'smallint',
      Integer: 'integer',
      BigInt: 'bigint',
      Timestamptz: `timestamp(${args ?? 6}) with time zone`,
      Timestamp: `timestamp(${args ?? 6}) without time zone`,
      VarChar: args ? `character varying(${args})` : 'character varying',
      JsonB: 'jsonb',
      Json: 'json',
    };
    type = natives[name!] ?? `unknown @db.${native}`;
  }
  return field.list ? `${type}[]` : type;
}

const REFERENTIAL: Record<string, string> = { Cascade: 'CASCADE', Restrict: 'RESTRICT', NoAction: 'NO ACTION', SetNull: 'SET NULL', SetDefault: 'SET DEFAULT' };

/** What Prisma's PostgreSQL connector makes of each model: one shape per table. */
export function schemaShapes(models: SchemaModel[]): Map<string, TableShape> {
  const shapes = new Map<string, TableShape>();
  const byName = new Map(models.map((m) => [m.name, m]));
  for (const model of models) {
    const scalars = model.fields.filter((f) => f.kind === 'scalar');
    const column = (name: string) => model.fields.find((f) => f.name === name)?.column ?? `unknown field ${name}`;
    const columns = scalars.map((f) => {
      // A list is never optional in Prisma, and its column's nullability is not part of the model.
      const nullability = f.list ? '' : f.optional ? '' : ' NOT NULL';
      return `${f.column} ${nativeTypeOf(f)}${nullability}${f.default === undefined ? '' : ` DEFAULT ${f.default}`}`;
    });
    const idFields = model.id?.fields ?? scalars.filter((f) => f.id).map((f) => f.name);
    const uniques = [
      ...scalars.filter((f) => f.unique).map((f) => ({ fields: [f.name], map: f.unique!.map })),
      ...model.uniques,
    ].map((u) => {
      const cols = u.fields.map(column);
      return `${u.map ?? `${model.table}_${cols.join('_')}_key`} (${cols.join(', ')})`;
    });
    const foreignKeys = model.fields.flatMap((f) => {
      if (!f.relation) return [];
      const target = byName.get(f.type)!;
      const cols = f.relation.fields.map(column);
      const refs = f.relation.references.map((r) => target.fields.find((t) => t.name === r)!.column);
      const optional = f.relation.fields.some((name) => model.fields.find((x) => x.name === name)!.optional);
      const onDelete = REFERENTIAL[f.relation.onDelete ?? (optional ? 'SetNull' : 'Restrict')];
      const onUpdate = REFERENTIAL[f.relation.onUpdate ?? 'Cascade'];
      return [`${f.relation.map ?? `${model.table}_${cols.join('_')}_fkey`} (${cols.join(', ')}) -> ${target.table} (${refs.join(', ')}) ON DELETE ${onDelete} ON UPDATE ${onUpdate}`];
    });
    const indexes = model.indexes.map((index) => {
      const cols = index.fields.map((f) => column(f.name));
      const shown = index.fields.map((f, k) => `${cols[k]}${f.desc ? ' DESC' : ''}`);
      return `${index.map ?? `${model.table}_${cols.join('_')}_idx`} (${shown.join(', ')})`;
    });
    shapes.set(model.table, {
      columns: columns.sort(),
      primaryKey: idFields.length === 0 ? null : `${model.id?.map ?? `${model.table}_pkey`} (${idFields.map(column).join(', ')})`,
      uniques: uniques.sort(),
      foreignKeys: foreignKeys.sort(),
      indexes: indexes.sort(),
    });
  }
  return shapes;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** A column default as a schema.prisma @default would spell it. */
function prismaDefault(expression: string | null, identity: string): string | undefined {
  if (identity !== '') return 'autoincrement()';
  if (expression === null) return undefined;
  if (/^nextval\(/.test(expression)) return 'autoincrement()';
  // Casts PostgreSQL writes back (`'full'::text`, `'{}'::text[]`, `ARRAY[]::text[]`).
  const bare = expression.replace(/::[\w ]+(\(\d+\))?(\[\])?/g, '');
  if (bare === 'now()' || bare === 'CURRENT_TIMESTAMP') return 'now()';
  if (bare === "'{}'" || bare === 'ARRAY[]') return '[]';
  const text = /^'((?:[^']|'')*)'$/.exec(bare);
  if (text) return JSON.stringify(text[1]!.replace(/''/g, "'"));
  return bare;
}

const ACTIONS: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

/** Every table of the connection's current schema (the migrations' own bookkeeping aside), as PostgreSQL holds it. */
export async function databaseShapes(db: Client): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  const shape = (table: string) => {
    let s = shapes.get(table);
    if (!s) shapes.set(table, (s = { columns: [], primaryKey: null, uniques: [], foreignKeys: [], indexes: [] }));
    return s;
  };
  const tables = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'`;
  const columns = await db.query<{ table: string; column: string; type: string; not_null: boolean; def: string | null; identity: string }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
            pg_get_expr(d.adbin, d.adrelid) AS def, a.attidentity::text AS identity
     FROM pg_class c
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
     WHERE c.oid IN (${tables})`,
  );
  for (const c of columns.rows) {
    const list = c.type.endsWith('[]');
    const def = prismaDefault(c.def, c.identity);
    shape(c.table).columns.push(`${c.column} ${c.type}${c.not_null && !list ? ' NOT NULL' : ''}${def === undefined ? '' : ` DEFAULT ${def}`}`);
  }
  const keys = await db.query<{ name: string; kind: string; table: string; columns: string[]; ref_table: string | null; ref_columns: string[]; on_delete: string; on_update: string }>(
    `SELECT con.conname AS name, con.contype::text AS kind, c.relname AS table,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
            f.relname AS ref_table,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) AS ref_columns,
            con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
     FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_class f ON f.oid = con.confrelid
     WHERE con.conrelid IN (${tables}) AND con.contype IN ('p', 'f')`,
  );
  for (const k of keys.rows) {
    if (k.kind === 'p') shape(k.table).primaryKey = `${k.name} (${k.columns.join(', ')})`;
    else {
      shape(k.table).foreignKeys.push(
        `${k.name} (${k.columns.join(', ')}) -> ${k.ref_table} (${k.ref_columns.join(', ')}) ON DELETE ${ACTIONS[k.on_delete]} ON UPDATE ${ACTIONS[k.on_update]}`,
      );
    }
  }
  const indexes = await db.query<{ name: string; table: string; unique: boolean; primary: boolean; columns: string[] }>(
    `SELECT i.relname AS name, t.relname AS table, x.indisunique AS unique, x.indisprimary AS primary,
            ARRAY(SELECT a.attname::text || CASE WHEN (k.opt & 1) = 1 THEN ' DESC' ELSE '' END
                  FROM unnest(x.indkey::int2[], x.indoption::int2[]) WITH ORDINALITY k(n, opt, i)
                  JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.i) AS columns
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
     JOIN pg_am am ON am.oid = i.relam
     -- What Prisma cannot model is kept in the migrations only: partial and expression indexes.
     WHERE x.indrelid IN (${tables}) AND x.indpred IS NULL AND x.indexprs IS NULL AND am.amname = 'btree'`,
  );
  for (const i of indexes.rows) {
    if (i.primary) continue;
    (i.unique ? shape(i.table).uniques : shape(i.table).indexes).push(`${i.name} (${i.columns.join(', ')})`);
  }
  for (const s of shapes.values()) {
    s.columns.sort();
    s.uniques.sort();
    s.foreignKeys.sort();
    s.indexes.sort();
  }
  return shapes;
}
