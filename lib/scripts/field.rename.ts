import { type DataRecord, defineScript } from '../core/script.ts';
import { cachedFunction, cachedValue } from './util/compiled.ts';
import { deletePath, getPath, hasPath, setPath, splitPath } from './util/paths.ts';

const hasOwn = Object.hasOwn as (o: object, key: string) => boolean;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when one path is the other or lies inside it (`a` and `a.b`). */
function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/** A copy of `obj` without `keys`, in the same key order. */
function without(obj: Record<string, unknown>, keys: Set<string>): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const k in obj) {
    if (!keys.has(k) && hasOwn(obj, k)) {
      if (k === '__proto__')
        Object.defineProperty(rest, k, { value: obj[k], enumerable: true, writable: true, configurable: true });
      else rest[k] = obj[k];
    }
  }
  return rest;
}

/** Shapes compiled before {@link restOf} gives up on a stream whose records keep changing shape. */
const MAX_SHAPES = 64;

/**
 * Copies a record without the given top-level keys, adding `targets` at the end with the values passed after the
 * record (a target that is also a kept key keeps its place and takes the new value, as an assignment would).
 * Records of one stream mostly share one key list, so the copy is compiled for the last key list seen (one object
 * literal instead of a store per key) and reused while the next record has the same keys in the same order. The
 * copier lives as long as the rename function that holds it (one per list of renames in a process), so the key list
 * seen last and the count of shapes carry over from one start of the step to the next.
 */
function restOf(
  removed: Set<string>,
  targets: readonly string[] = [],
): (record: DataRecord, ...values: unknown[]) => DataRecord {
  let lastKeys: string[] | undefined;
  let build: ((record: DataRecord, ...values: unknown[]) => DataRecord) | undefined;
  let compiled = 0;
  const slow = (record: DataRecord, ...values: unknown[]): DataRecord => {
    const out = without(record, removed);
    // Targets are flat keys without dots (see compileBatched), which setPath writes as they are.
    targets.forEach((t, i) => {
      setPath(out, t, values[i]);
    });
    return out;
  };
  return (record, ...values) => {
    if (compiled > MAX_SHAPES) return slow(record, ...values);
    if (build && lastKeys) {
      // Compared while enumerating, without a key list per record.
      let i = 0;
      let same = true;
      for (const key in record) {
        if (key !== lastKeys[i]) {
          same = false;
          break;
        }
        i++;
      }
      if (same && i === lastKeys.length) return build(record, ...values);
    }
    const keys = Object.keys(record);
    compiled++;
    lastKeys = keys;
    const kept = keys.filter((k) => !removed.has(k));
    if (kept.includes('__proto__') || targets.includes('__proto__')) build = slow;
    else {
      const q = (text: string) => JSON.stringify(text);
      const args = targets.map((_, i) => `a${i}`);
      build = cachedFunction<(r: DataRecord, ...values: unknown[]) => DataRecord>(
        ['r', ...args],
        `return { ${[...kept.map((k) => `${q(k)}: r[${q(k)}]`), ...targets.map((t, i) => `${q(t)}: a${i}`)].join(', ')} };`,
      );
    }
    return build(record, ...values);
  };
}

type Plan = readonly { readonly source: string; readonly target: string; readonly parts: readonly string[] }[];
type Groups = readonly {
  readonly parts: readonly string[];
  readonly leaves: Set<string>;
  readonly members: readonly number[];
}[];

/**
 * Compiles independent renames into one function with the field names written in, so every property access is
 * a plain named access instead of a lookup by a variable key (several times faster per record). The names enter
 * the source only through JSON.stringify, so any text is a safe string literal. What it does, for each record:
 * read every source (a flat key of that exact name first, else the nested field), fall back to the one-at-a-time
 * order when both forms exist, rebuild each parent that lost fields (deepest first) and the record itself when
 * flat keys moved, then write the targets in order.
 */
function compileBatched(
  plan: Plan,
  groups: Groups,
  sources: Set<string>,
  sequential: (record: DataRecord) => DataRecord,
): (record: DataRecord) => DataRecord {
  const q = (text: string) => JSON.stringify(text);
  /**
   * The test for an own field `key` of `obj`. Records are plain data, whose objects inherit only from
   * Object.prototype (or nothing): for a name that Object.prototype does not have, `in` finds exactly the own
   * fields, and V8 compiles it down to a check of the object's shape, where Object.hasOwn stays a call (about 5 %
   * of a laned export's instructions, measured on the benchmark's ten Gigya paths). Object.prototype's own names
   * (`constructor`, `toString`, `__proto__`, …) keep Object.hasOwn.
   */
  const has = (obj: string, key: string) =>
    key in Object.prototype ? `hasOwn(${obj}, ${q(key)})` : `${q(key)} in ${obj}`;
  const lines: string[] = ['let literal = false;'];
  plan.forEach((step, i) => {
    lines.push(`let f${i} = false, v${i};`);
    lines.push(`if (${has('r', step.source)}) { v${i} = r[${q(step.source)}]; f${i} = true; literal = true; }`);
  });
  groups.forEach((group, g) => {
    // Walk to the parent object, remembering the object that holds it.
    lines.push(`let h${g} = r, p${g} = r, g${g} = false;`);
    for (const part of group.parts) {
      lines.push(
        `if (isObject(p${g}) && ${has(`p${g}`, part)}) { h${g} = p${g}; p${g} = p${g}[${q(part)}]; } else p${g} = undefined;`,
      );
    }
    lines.push(`if (isObject(p${g})) {`);
    for (const i of group.members) {
      const step = plan[i]!;
      const leaf = step.parts[step.parts.length - 1]!;
      lines.push(
        `  if (${has(`p${g}`, leaf)}) { if (f${i}) return sequential(r); v${i} = p${g}[${q(leaf)}]; f${i} = true; g${g} = true; }`,
      );
    }
    lines.push('}');
  });
  lines.push(`if (!(${plan.map((_, i) => `f${i}`).join(' || ') || 'false'})) return r;`);
  groups.forEach((group, g) => {
    lines.push(`if (g${g}) h${g}[${q(group.parts[group.parts.length - 1]!)}] = parents[${g}](p${g});`);
  });
  // Every source found and every target flat (a CSV's columns renamed, or Gigya paths flattened for an export):
  // the record is rebuilt with its targets in one literal, with the same keys in the same order as assigning them
  // would give. When flat keys moved the record needs a copy anyway; when only nested fields moved, adding the
  // targets one by one would grow the object's out-of-line property store several times (measured on the
  // benchmark's ten Gigya paths: 0.97 µs a record for rename and evaluate with the literal, 1.24–1.34 µs
  // without). A target that is nested, or a source that is missing, takes the assignment path below.
  const flat = (t: string) => !t.includes('.') && !t.startsWith("'") && t !== '__proto__';
  const allFlat = plan.length > 0 && plan.every((step) => flat(step.target));
  if (allFlat) {
    lines.push(
      `if (${plan.map((_, i) => `f${i}`).join(' && ')}) return whole(r, ${plan.map((_, i) => `v${i}`).join(', ')});`,
    );
  }
  lines.push('const out = literal ? rest(r) : r;');
  plan.forEach((step, i) => {
    lines.push(
      flat(step.target)
        ? `if (f${i}) out[${q(step.target)}] = v${i};`
        : `if (f${i}) setPath(out, ${q(step.target)}, v${i});`,
    );
  });
  lines.push('return out;');
  const factory = cachedFunction<(...deps: unknown[]) => (record: DataRecord) => DataRecord>(
    ['hasOwn', 'isObject', 'without', 'setPath', 'sequential', 'rest', 'parents', 'whole'],
    `return function rename(r) {\n${lines.join('\n')}\n};`,
  );
  return factory(
    hasOwn,
    isObject,
    without,
    setPath,
    sequential,
    restOf(sources),
    // Each parent that loses fields is copied by a builder compiled for its key list, like the record itself.
    groups.map((g) => restOf(g.leaves)),
    restOf(
      sources,
      plan.map((step) => step.target),
    ),
  );
}

/** The function that applies a list of renames (source, target) to a record. */
function compileRename(pairs: readonly (readonly [string, string])[]): (record: DataRecord) => DataRecord {
  // Renames that do not touch each other's paths can all be read first and written after, which lets the
  // record be rebuilt once instead of deleting keys one by one (a deleted key sends a V8 object to its slow
  // dictionary form). Chained or overlapping renames keep the one-at-a-time order.
  const independent = pairs.every(([s, t], i) =>
    pairs.every(([s2, t2], j) => i === j || (!overlaps(s, s2) && !overlaps(t, s2) && !overlaps(s, t2))),
  );
  const plan = pairs.map(([source, target]) => ({ source, target, parts: splitPath(source) }));
  const sources = new Set(pairs.map(([source]) => source));
  // Nested sources grouped by the object they sit in, deepest first: a parent copied later then holds the
  // already rebuilt child.
  const groupsByPath = new Map<string, { parts: string[]; leaves: Set<string>; members: number[] }>();
  plan.forEach((step, i) => {
    if (step.parts.length < 2) return;
    const parentPath = step.parts.slice(0, -1).join('\u0000');
    let group = groupsByPath.get(parentPath);
    if (!group) {
      group = { parts: step.parts.slice(0, -1), leaves: new Set(), members: [] };
      groupsByPath.set(parentPath, group);
    }
    group.leaves.add(step.parts[step.parts.length - 1]!);
    group.members.push(i);
  });
  const groups = [...groupsByPath.values()].sort((a, b) => b.parts.length - a.parts.length);
  const sequential = (record: DataRecord): DataRecord => {
    for (const [from, to] of pairs) {
      if (!hasPath(record, from)) continue;
      const value = getPath(record, from);
      deletePath(record, from);
      setPath(record, to, value);
    }
    return record;
  };
  return independent ? compileBatched(plan, groups, sources, sequential) : sequential;
}

/** `field.rename`: renames or moves fields, nested paths in both directions. */
export const fieldRename = defineScript({
  type: 'field.rename',
  summary: 'Renames or moves fields; dotted paths work in both directions (profile.email → MAIL, COL → data.x.y).',
  description:
    'Fields are renamed in the order listed. A source field that is absent leaves the record unchanged for that ' +
    'pair (no target is created). Emptied parent objects are kept; follow with field.remove to drop them, as the ' +
    "IdentitySync templates do. A target written in single quotes (`'profile.gender'`) is one flat key.",
  consumes: 'records',
  produces: 'records',
  params: {
    fields: {
      type: 'array',
      required: true,
      description: 'Pairs of source and target paths.',
      items: {
        type: 'object',
        description: 'One rename.',
        properties: {
          sourceField: { type: 'string', required: true, description: 'Path of the field to rename.' },
          targetField: { type: 'string', required: true, description: 'New path; intermediate objects are created.' },
        },
      },
    },
  },
  lanes: { records: true },
  create(params) {
    const pairs = params.fields
      .filter((f) => f.sourceField !== f.targetField)
      .map((f) => [f.sourceField, f.targetField] as const);
    // One function per list of renames in this process: a laned step starts again for every chunk, and new
    // closures would each be optimized anew (see cachedValue).
    const batched = cachedValue(`field.rename\u0000${JSON.stringify(pairs)}`, () => compileRename(pairs));
    return {
      records(batch, out) {
        for (const record of batch) out.emit(batched(record));
      },
    };
  },
});
