/**
 * Parameter schemas of scripts: a small, typed subset of JSON Schema. One definition drives three things,
 * so they cannot drift: validation of dataflow files (with coded, located problems), the defaults a script
 * receives, and the generated JSON Schema / docs.
 */
import { showValue } from './errors.ts';

interface BaseSpec {
  /** What the parameter does; flows into the docs and the editor tooltip. */
  readonly description: string;
  /** The parameter must be present. */
  readonly required?: boolean;
  /** Examples shown in the docs. */
  readonly examples?: readonly unknown[];
}

/** A string parameter. */
export interface StringSpec extends BaseSpec {
  readonly type: 'string';
  readonly default?: string;
  readonly enum?: readonly string[];
  /** The value is a credential: it must be a `${secret:NAME}` reference (or the console's mask `********`). */
  readonly secret?: boolean;
  /** How `${now±offset}` renders when the placeholder gives no pattern. @default 'compact' (yyyyMMddHHmmss) */
  readonly timeFormat?: 'compact' | 'epochMillis' | 'iso';
  /** The value is kept as written: no placeholder is resolved in it (code, expressions). */
  readonly verbatim?: boolean;
}

/** A number parameter. */
export interface NumberSpec extends BaseSpec {
  readonly type: 'number' | 'integer';
  readonly default?: number;
  readonly minimum?: number;
  readonly maximum?: number;
}

/** A boolean parameter. */
export interface BooleanSpec extends BaseSpec {
  readonly type: 'boolean';
  readonly default?: boolean;
}

/** An array parameter. */
export interface ArraySpec extends BaseSpec {
  readonly type: 'array';
  readonly items: ParamSpec;
  readonly default?: readonly unknown[];
  readonly minItems?: number;
}

/** An object parameter with known properties. */
export interface ObjectSpec extends BaseSpec {
  readonly type: 'object';
  readonly properties: ParamsSchema;
  readonly default?: Record<string, unknown>;
  /** Other keys are allowed (free-form maps). @default false */
  readonly additionalProperties?: boolean;
}

/** Any parameter spec. */
export type ParamSpec = StringSpec | NumberSpec | BooleanSpec | ArraySpec | ObjectSpec;

/** The params of one script: name → spec. */
export type ParamsSchema = { readonly [name: string]: ParamSpec };

type ValueOf<S extends ParamSpec> = S extends StringSpec
  ? S['enum'] extends readonly string[]
    ? S['enum'][number]
    : string
  : S extends NumberSpec
    ? number
    : S extends BooleanSpec
      ? boolean
      : S extends ArraySpec
        ? ValueOf<S['items']>[]
        : S extends ObjectSpec
          ? ParamsOf<S['properties']>
          : never;

type HasValue<S extends ParamSpec> = S extends { required: true }
  ? true
  : S extends { default: unknown }
    ? true
    : false;

/** The typed params a script receives: required or defaulted params are present, others optional. */
export type ParamsOf<P extends ParamsSchema> = {
  -readonly [K in keyof P as HasValue<P[K]> extends true ? K : never]: ValueOf<P[K]>;
} & {
  -readonly [K in keyof P as HasValue<P[K]> extends true ? never : K]?: ValueOf<P[K]>;
};

/** One problem found in params. */
export interface ParamProblem {
  readonly code: 'IDX_PARAM_UNKNOWN' | 'IDX_PARAM_TYPE' | 'IDX_PARAM_MISSING' | 'IDX_PARAM_VALUE' | 'IDX_NAME_RESERVED';
  /** Dotted path below `params`, e.g. `fields[2].sourceField`. */
  readonly path: string;
  readonly message: string;
  readonly expected: string;
  readonly received: string;
}

/**
 * The spec of one param, looked up as the schema's own property: a param named `constructor` or `toString`
 * must not find `Object.prototype`'s members and pass as known.
 */
export function ownSpec(schema: ParamsSchema, name: string): ParamSpec | undefined {
  return Object.hasOwn(schema, name) ? schema[name] : undefined;
}

/** A key that an object literal or an assignment turns into a prototype change instead of a property. */
export const PROTO_KEY = '__proto__';

/** Sets an own property, even one named `__proto__` (which plain assignment would take as a prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === PROTO_KEY)
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function describeSpec(spec: ParamSpec): string {
  if (spec.type === 'string' && spec.enum) return `one of ${spec.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (spec.type === 'array') return `an array of ${describeSpec(spec.items)}`;
  if (spec.type === 'object') return `an object with ${Object.keys(spec.properties).join(', ') || 'any keys'}`;
  if (spec.type === 'integer') return 'an integer';
  return `a ${spec.type}`;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

/** Checks a value against a spec; pushes every problem found (never stops at the first). */
export function checkValue(spec: ParamSpec, value: unknown, path: string, problems: ParamProblem[]): void {
  const typeProblem = () =>
    problems.push({
      code: 'IDX_PARAM_TYPE',
      path,
      message: `parameter "${path}" has the wrong type`,
      expected: describeSpec(spec),
      received: showValue(value),
    });
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') return void typeProblem();
      if (spec.enum && !spec.enum.includes(value)) {
        problems.push({
          code: 'IDX_PARAM_VALUE',
          path,
          message: `parameter "${path}" has a value it does not allow`,
          expected: describeSpec(spec),
          received: showValue(value),
        });
      }
      return;
    case 'number':
    case 'integer':
      if (typeof value !== 'number' || !Number.isFinite(value)) return void typeProblem();
      if (spec.type === 'integer' && !Number.isInteger(value)) return void typeProblem();
      if (
        (spec.minimum !== undefined && value < spec.minimum) ||
        (spec.maximum !== undefined && value > spec.maximum)
      ) {
        problems.push({
          code: 'IDX_PARAM_VALUE',
          path,
          message: `parameter "${path}" is out of range`,
          expected: `a number from ${spec.minimum ?? '-∞'} to ${spec.maximum ?? '∞'}`,
          received: showValue(value),
        });
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') typeProblem();
      return;
    case 'array':
      if (!Array.isArray(value)) return void typeProblem();
      if (spec.minItems !== undefined && value.length < spec.minItems) {
        problems.push({
          code: 'IDX_PARAM_VALUE',
          path,
          message: `parameter "${path}" needs at least ${spec.minItems} item(s)`,
          expected: `at least ${spec.minItems} item(s)`,
          received: `${value.length}`,
        });
      }
      for (let i = 0; i < value.length; i++) checkValue(spec.items, value[i], join(path, i), problems);
      return;
    case 'object':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return void typeProblem();
      checkObject(
        spec.properties,
        value as Record<string, unknown>,
        path,
        problems,
        spec.additionalProperties ?? false,
      );
      return;
  }
}

/** Checks an object of params against a schema: unknown, missing and mistyped params. */
export function checkObject(
  schema: ParamsSchema,
  value: Record<string, unknown>,
  path: string,
  problems: ParamProblem[],
  additionalProperties = false,
): void {
  for (const [key, item] of Object.entries(value)) {
    const spec = ownSpec(schema, key);
    if (!spec) {
      if (key === PROTO_KEY) {
        // Even where free-form keys are allowed: every later copy of the params would drop it or misread it.
        problems.push({
          code: 'IDX_NAME_RESERVED',
          path: join(path, key),
          message: `parameter name "${key}" is reserved by JavaScript objects and would be lost`,
          expected: 'another key',
          received: JSON.stringify(key),
        });
      } else if (!additionalProperties) {
        const known = Object.keys(schema);
        problems.push({
          code: 'IDX_PARAM_UNKNOWN',
          path: join(path, key),
          message: `unknown parameter "${join(path, key)}"`,
          expected: known.length ? `one of ${known.join(', ')}` : 'no parameters',
          received: JSON.stringify(key),
        });
      }
      continue;
    }
    // null means "not set" in console exports; a required param still has to be there.
    if (item === null && !spec.required) continue;
    checkValue(spec, item, join(path, key), problems);
  }
  for (const [key, spec] of Object.entries(schema)) {
    const given = Object.hasOwn(value, key) ? value[key] : undefined;
    if (spec.required && (given === undefined || given === null)) {
      problems.push({
        code: 'IDX_PARAM_MISSING',
        path: join(path, key),
        message: `required parameter "${join(path, key)}" is missing`,
        expected: describeSpec(spec),
        received: 'nothing',
      });
    }
  }
}

/** Returns params with defaults filled in, recursively; nulls count as unset. Input is not modified. */
export function applyDefaults(
  schema: ParamsSchema,
  value: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const input = value ?? {};
  for (const [key, item] of Object.entries(input)) if (item !== null) setOwn(out, key, item);
  for (const [key, spec] of Object.entries(schema)) {
    if (!Object.hasOwn(out, key) && spec.default !== undefined) out[key] = structuredClone(spec.default);
    const current = Object.hasOwn(out, key) ? out[key] : undefined;
    if (spec.type === 'object' && current && typeof current === 'object' && !Array.isArray(current)) {
      out[key] = applyDefaults(spec.properties, current as Record<string, unknown>);
    } else if (spec.type === 'array' && spec.items.type === 'object' && Array.isArray(current)) {
      const itemSchema = spec.items.properties;
      out[key] = current.map((el) =>
        el && typeof el === 'object' && !Array.isArray(el)
          ? applyDefaults(itemSchema, el as Record<string, unknown>)
          : el,
      );
    }
  }
  return out;
}

/** Walks a schema and its value, yielding every string leaf with its spec (for placeholders and secrets). */
export function* stringLeaves(
  schema: ParamsSchema,
  value: Record<string, unknown>,
  path = '',
): Generator<{ path: string; spec: StringSpec | undefined; value: string }> {
  // Iterative, in document order: params nested thousands deep must not exhaust the call stack.
  const todo: { spec: ParamSpec | undefined; value: unknown; path: string }[] = [];
  const pushEntries = (props: ParamsSchema, obj: object, at: string) => {
    const entries = Object.entries(obj);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, v] = entries[i] as [string, unknown];
      todo.push({ spec: ownSpec(props, k), value: v, path: join(at, k) });
    }
  };
  pushEntries(schema, value, path);
  while (todo.length > 0) {
    const { spec, value: v, path: at } = todo.pop() as (typeof todo)[number];
    if (typeof v === 'string') {
      yield { path: at, spec: spec?.type === 'string' ? spec : undefined, value: v };
    } else if (Array.isArray(v)) {
      const items = spec?.type === 'array' ? spec.items : undefined;
      for (let i = v.length - 1; i >= 0; i--) todo.push({ spec: items, value: v[i], path: join(at, i) });
    } else if (v && typeof v === 'object') {
      pushEntries(spec?.type === 'object' ? spec.properties : {}, v, at);
    }
  }
}

/** Renders a spec as JSON Schema (draft 2020-12 subset) for editors. */
export function toJsonSchema(spec: ParamSpec): Record<string, unknown> {
  const base: Record<string, unknown> = { description: spec.description };
  if (spec.default !== undefined) base.default = spec.default;
  if (spec.examples) base.examples = spec.examples;
  switch (spec.type) {
    case 'string':
      return { type: 'string', ...base, ...(spec.enum ? { enum: spec.enum } : {}) };
    case 'number':
    case 'integer':
      return {
        type: spec.type,
        ...base,
        ...(spec.minimum === undefined ? {} : { minimum: spec.minimum }),
        ...(spec.maximum === undefined ? {} : { maximum: spec.maximum }),
      };
    case 'boolean':
      return { type: 'boolean', ...base };
    case 'array':
      return {
        type: 'array',
        ...base,
        items: toJsonSchema(spec.items),
        ...(spec.minItems ? { minItems: spec.minItems } : {}),
      };
    case 'object':
      return { ...objectSchema(spec.properties, spec.additionalProperties ?? false), ...base };
  }
}

/** Renders a params schema as a JSON Schema object. */
export function objectSchema(schema: ParamsSchema, additionalProperties = false): Record<string, unknown> {
  const required = Object.entries(schema)
    .filter(([, s]) => s.required)
    .map(([k]) => k);
  return {
    type: 'object',
    properties: Object.fromEntries(Object.entries(schema).map(([k, s]) => [k, toJsonSchema(s)])),
    ...(required.length ? { required } : {}),
    additionalProperties,
  };
}
