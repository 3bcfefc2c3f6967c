/**
 * Graph rules of a dataflow: the step nobody points to is the entry, steps without `next` are end points,
 * several ids in `next` split the flow, several predecessors fan in, `error` routes rejected records.
 */
import type { Step } from './types.ts';

/** An edge of the graph: `next` carries a step's output, `error` its rejected records. */
export interface Edge {
  readonly from: string;
  readonly to: string;
  readonly via: 'next' | 'error';
}

/** Every edge whose both ends exist, in step order. */
export function edgesOf(steps: readonly Step[]): Edge[] {
  const ids = new Set(steps.map((s) => s.id));
  const edges: Edge[] = [];
  for (const s of steps) {
    for (const to of s.next) if (ids.has(to)) edges.push({ from: s.id, to, via: 'next' });
    for (const to of s.error) if (ids.has(to)) edges.push({ from: s.id, to, via: 'error' });
  }
  return edges;
}

/** Steps that no other step points to (by `next` or `error`). */
export function entriesOf(steps: readonly Step[]): string[] {
  const pointed = new Set(edgesOf(steps).map((e) => e.to));
  return steps.filter((s) => !pointed.has(s.id)).map((s) => s.id);
}

/** The edges into each step. */
export function incomingOf(steps: readonly Step[]): Map<string, Edge[]> {
  const map = new Map<string, Edge[]>(steps.map((s) => [s.id, []]));
  for (const e of edgesOf(steps)) map.get(e.to)?.push(e);
  return map;
}

/** The cycles found (each as the list of step ids on it); empty for a DAG. */
export function cyclesOf(steps: readonly Step[]): string[][] {
  const out = new Map<string, string[]>(steps.map((s) => [s.id, []]));
  for (const e of edgesOf(steps)) out.get(e.from)?.push(e.to);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (id: string): void => {
    state.set(id, 1);
    stack.push(id);
    for (const to of out.get(id) ?? []) {
      const st = state.get(to);
      if (st === 1) cycles.push(stack.slice(stack.indexOf(to)));
      else if (st === undefined) visit(to);
    }
    stack.pop();
    state.set(id, 2);
  };
  for (const s of steps) if (!state.has(s.id)) visit(s.id);
  return cycles;
}

/** Steps not reachable from the given entries. */
export function unreachableFrom(steps: readonly Step[], entries: readonly string[]): string[] {
  const out = new Map<string, string[]>(steps.map((s) => [s.id, []]));
  for (const e of edgesOf(steps)) out.get(e.from)?.push(e.to);
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length) {
    const id = todo.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    todo.push(...(out.get(id) ?? []));
  }
  return steps.filter((s) => !seen.has(s.id)).map((s) => s.id);
}

/**
 * Groups the steps of an acyclic graph into levels: every step comes after all its predecessors, steps of one
 * level are independent of each other. Within a level, steps keep their file order, so the result is stable.
 */
export function levelsOf(steps: readonly Step[]): string[][] {
  const incoming = incomingOf(steps);
  const level = new Map<string, number>();
  const depth = (id: string, guard: Set<string>): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    if (guard.has(id)) throw new Error(`cycle through step "${id}"`);
    guard.add(id);
    let d = 0;
    for (const e of incoming.get(id) ?? []) d = Math.max(d, depth(e.from, guard) + 1);
    guard.delete(id);
    level.set(id, d);
    return d;
  };
  const levels: string[][] = [];
  for (const s of steps) {
    const d = depth(s.id, new Set());
    const level = levels[d] ?? [];
    level.push(s.id);
    levels[d] = level;
  }
  return levels.filter((l) => l.length > 0);
}
