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
  const out = successorsOf(steps);
  const state = new Map<string, 1 | 2>();
  const cycles: string[][] = [];
  // A depth-first walk with its own stack (a chain of thousands of steps must not exhaust the call stack):
  // `path` holds the ids being visited, `next` how many of each one's successors were looked at.
  for (const s of steps) {
    if (state.has(s.id)) continue;
    const path: string[] = [s.id];
    const next: number[] = [0];
    state.set(s.id, 1);
    while (path.length > 0) {
      const top = path.length - 1;
      const id = path[top] as string;
      const i = next[top] as number;
      const successors = out.get(id) ?? [];
      if (i >= successors.length) {
        state.set(id, 2);
        path.pop();
        next.pop();
        continue;
      }
      next[top] = i + 1;
      const to = successors[i] as string;
      const st = state.get(to);
      if (st === 1) cycles.push(path.slice(path.indexOf(to)));
      else if (st === undefined) {
        state.set(to, 1);
        path.push(to);
        next.push(0);
      }
    }
  }
  return cycles;
}

/** The ids each step's edges lead to, in edge order. */
function successorsOf(steps: readonly Step[]): Map<string, string[]> {
  const out = new Map<string, string[]>(steps.map((s) => [s.id, []]));
  for (const e of edgesOf(steps)) out.get(e.from)?.push(e.to);
  return out;
}

/** Steps not reachable from the given entries. */
export function unreachableFrom(steps: readonly Step[], entries: readonly string[]): string[] {
  const out = successorsOf(steps);
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
  // Each step's level is one more than its deepest predecessor's, found in topological order (Kahn's
  // algorithm) rather than by recursion, so a chain of thousands of steps is fine.
  const out = successorsOf(steps);
  const waiting = new Map<string, number>(steps.map((s) => [s.id, 0]));
  for (const targets of out.values()) for (const to of targets) waiting.set(to, (waiting.get(to) ?? 0) + 1);
  const level = new Map<string, number>();
  const ready = steps.filter((s) => waiting.get(s.id) === 0).map((s) => s.id);
  for (const id of ready) level.set(id, 0);
  while (ready.length > 0) {
    const id = ready.pop() as string;
    const d = level.get(id) as number;
    for (const to of out.get(id) ?? []) {
      level.set(to, Math.max(level.get(to) ?? 0, d + 1));
      const left = (waiting.get(to) ?? 0) - 1;
      waiting.set(to, left);
      if (left === 0) ready.push(to);
    }
  }
  const levels: string[][] = [];
  for (const s of steps) {
    const d = level.get(s.id);
    if (d === undefined || (waiting.get(s.id) ?? 0) > 0) throw new Error(`cycle through step "${s.id}"`);
    const at = levels[d] ?? [];
    at.push(s.id);
    levels[d] = at;
  }
  return levels.filter((l) => l.length > 0);
}
