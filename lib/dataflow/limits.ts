/**
 * Size limits of a dataflow that match what deploys, checked at validation so a dataflow that validates also
 * deploys and runs: DynamoDB key sizes for the dataflow id, the Step Functions definition size, and a nesting
 * depth that every recursive reader of params (the compiler, the runner, editors) stays well within.
 */
import type { Step } from './types.ts';

/**
 * The largest dataflow id, in UTF-8 bytes: the id is the partition key of the state table and of the jobs
 * table's by-dataflow index, and DynamoDB refuses a partition key over 2048 bytes.
 */
export const MAX_DATAFLOW_ID_BYTES = 2048;

/** The largest compiled definition, in UTF-8 bytes: Step Functions refuses a state machine definition over 1 MB. */
export const MAX_DEFINITION_BYTES = 1024 * 1024;

/**
 * The deepest nesting of objects and arrays in a dataflow file (the dataflow object is level 1, a step's params
 * level 4). Real dataflows stay under 10; the cap keeps a hostile file from exhausting the call stack anywhere.
 */
export const MAX_NESTING_DEPTH = 64;

/**
 * The JSON path of the first object or array nested deeper than `limit` below `value` (which is at `depth`),
 * or undefined when none is. Iterative, so a value nested 100,000 deep is measured without recursion.
 */
export function tooDeepAt(value: unknown, path: string, depth = 1, limit = MAX_NESTING_DEPTH): string | undefined {
  const todo: { value: unknown; path: string; depth: number }[] = [{ value, path, depth }];
  while (todo.length > 0) {
    const item = todo.pop() as (typeof todo)[number];
    if (item.value === null || typeof item.value !== 'object') continue;
    if (item.depth > limit) return item.path;
    if (Array.isArray(item.value)) {
      item.value.forEach((v, i) => {
        todo.push({ value: v, path: `${item.path}[${i}]`, depth: item.depth + 1 });
      });
    } else {
      for (const [k, v] of Object.entries(item.value))
        todo.push({ value: v, path: `${item.path}.${k}`, depth: item.depth + 1 });
    }
  }
  return undefined;
}

/**
 * The UTF-8 bytes of every string in the steps' params: a lower bound of the compiled definition's size (which
 * holds every step's params), measured without serializing anything.
 */
export function paramTextBytes(steps: readonly Step[]): number {
  let total = 0;
  const todo: unknown[] = steps.map((s) => s.params);
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === 'string') total += Buffer.byteLength(v);
    else if (Array.isArray(v)) for (const x of v) todo.push(x);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        total += Buffer.byteLength(k);
        todo.push(x);
      }
    }
  }
  return total;
}
