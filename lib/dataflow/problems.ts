/** Validation problems: every one coded and located, so tools and people can act on it. */
import { bounded, type IdxErrorCode, MAX_DETAIL_LENGTH, printable } from '../core/errors.ts';

/** One problem found in a dataflow. */
export interface Problem {
  /** Stable code from the catalogue (lib/core/error-codes.ts), e.g. `IDX_PARAM_MISSING`. */
  readonly code: IdxErrorCode;
  /** Errors make the dataflow invalid; warnings are reported and the dataflow still runs. */
  readonly severity: 'error' | 'warning';
  readonly file?: string;
  readonly stepId?: string;
  /** JSON path inside the dataflow object, e.g. `$.steps[3].params.fields[0].sourceField`. */
  readonly path: string;
  readonly message: string;
  readonly expected?: string;
  readonly received?: string;
}

/**
 * Renders a problem as one line for a terminal: ids and values may hold line breaks or ANSI escapes, which are
 * shown escaped rather than let loose on the screen.
 */
export function formatProblem(p: Problem): string {
  const where = [p.file, p.stepId === undefined ? undefined : `step "${p.stepId}"`, p.path].filter(Boolean).join(' › ');
  const exp = [p.expected && `expected ${p.expected}`, p.received && `received ${p.received}`]
    .filter(Boolean)
    .join(', ');
  return printable(
    `${p.severity === 'error' ? 'error' : 'warning'} ${p.code}: ${p.message}${exp ? ` (${exp})` : ''} [${where}]`,
  );
}

/**
 * A problem whose texts are cut to a readable length: a message or value may quote a step id or param of
 * megabytes, which no report should carry whole.
 */
export function boundProblem(p: Problem): Problem {
  const cut = (text: string) => bounded(text, MAX_DETAIL_LENGTH);
  return {
    ...p,
    ...(p.stepId === undefined ? {} : { stepId: cut(p.stepId) }),
    path: cut(p.path),
    message: cut(p.message),
    ...(p.expected === undefined ? {} : { expected: cut(p.expected) }),
    ...(p.received === undefined ? {} : { received: cut(p.received) }),
  };
}

/** True when a list holds at least one error. */
export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}
