/**
 * Which fused runs of steps can go in parallel lanes, and how their input is cut. Both sides ask: the main
 * thread before it starts the lanes, each lane before it serves, so a lane never runs steps the plan refuses.
 */
import type { AnyScriptDefinition, SplitSyntax } from '../../core/script.ts';
import { splittable } from '../../scripts/util/split.ts';

/** One step of a laned run, with its params already resolved (secrets and placeholders rendered once). */
export interface LaneStep {
  readonly id: string;
  readonly type: string;
  readonly params: Record<string, unknown>;
}

/** How the input of a laned run is cut. */
export type LaneInput = { readonly kind: 'records' } | { readonly kind: 'files'; readonly syntax: SplitSyntax };

/** A run of steps that can go in lanes, as {@link planLanes} found it. */
export interface LanePlan {
  readonly input: LaneInput;
  /** A step writes files as fragments: the params of its head (what starts each file). */
  readonly head?: Record<string, unknown>;
  /**
   * The step that writes the fragments (a formatter): the last step, or the one before file transforms that take
   * each fragment on its own (gzip, see LaneSupport.pieces). @default the last step
   */
  readonly formatter?: number;
  /** A file is written even when no record arrives. */
  readonly emptyFile: boolean;
}

/**
 * Decides whether a run of steps can go in lanes: the first reads staged records or parses files it can cut,
 * every step transforms records one at a time, and the last stages records or formats fragments, possibly followed
 * by file transforms that take each fragment on its own (gzip). Returns why not otherwise, for the trace.
 */
export function planLanes(
  definitions: readonly AnyScriptDefinition[],
  params: readonly Record<string, unknown>[],
): LanePlan | string {
  const first = definitions[0];
  // File transforms that take each fragment on its own run after the formatter, in the lanes too.
  let end = definitions.length;
  while (end > 1 && definitions[end - 1]?.lanes?.pieces && definitions[end - 1]?.consumes === 'files') end--;
  const last = definitions[end - 1];
  if (!first || !last) return 'no steps';
  let input: LaneInput;
  if (first.consumes === 'records') {
    const formatterAlone = end === 1 && first.produces === 'files';
    if (!formatterAlone && !first.lanes?.records) return `${first.type} keeps state between records`;
    input = { kind: 'records' };
  } else if (first.consumes === 'files' && first.produces === 'records') {
    const syntax = first.lanes?.split?.(params[0] as never);
    if (!syntax) return `${first.type} cannot cut its files with these params`;
    if (!splittable(syntax)) return 'the separator, quote or escape is not a single ASCII character';
    input = { kind: 'files', syntax };
  } else return `${first.type} does not read records or parse files`;
  for (let i = 1; i < end - 1; i++) {
    const d = definitions[i] as AnyScriptDefinition;
    if (!d.lanes?.records) return `${d.type} keeps state between records`;
  }
  if (end > 1 && last.consumes === 'records' && last.produces === 'records' && !last.lanes?.records)
    return `${last.type} keeps state between records`;
  if (last.produces === 'records') {
    if (end < definitions.length) return `${definitions[end]?.type} follows records, not a formatter`;
    return { input, emptyFile: false };
  }
  if (last.produces === 'files' && last.consumes === 'records') {
    const fragments = last.lanes?.fragments?.(params[end - 1] as never);
    if (!fragments) return `${last.type} cannot write its file in fragments with these params`;
    return {
      input,
      head: fragments.head as Record<string, unknown>,
      emptyFile: fragments.emptyFile,
      ...(end < definitions.length ? { formatter: end - 1 } : {}),
    };
  }
  return `${last.type} does not stage records or format a file`;
}

/**
 * The params each step of a planned run runs with in a lane: those given, except a formatter that writes
 * fragments, which runs with its body params (nothing that a file has once: no header, no byte-order mark).
 */
export function laneParams(
  definitions: readonly AnyScriptDefinition[],
  params: readonly Record<string, unknown>[],
  plan: LanePlan,
): Record<string, unknown>[] {
  const at = plan.formatter ?? definitions.length - 1;
  const fragments = definitions[at]?.lanes?.fragments?.(params[at] as never);
  return params.map((p, i) => (i === at && fragments ? (fragments.body as Record<string, unknown>) : p));
}
