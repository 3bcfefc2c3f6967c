import { describe, expect, it } from 'vitest';
import { type AslState, compile } from '../../../lib/compiler/compile.ts';
import { ERROR_CODES, type IdxErrorCode, mayBeTransient } from '../../../lib/core/error-codes.ts';
import { IdxError } from '../../../lib/core/errors.ts';
import { readDataflow } from '../../../lib/dataflow/load.ts';
import { toStepFailure } from '../../../lib/engine/handler.ts';
import { testRegistry } from '../../support/scripts.ts';

/** The error names the Retry of every Task of a compiled two-step dataflow matches. */
function compiledRetryNames(): Set<string> {
  const { dataflow } = readDataflow({
    id: 'retry',
    name: 'Retry',
    steps: [
      { id: 'read', type: 'test.generate', params: { count: 1 }, next: ['rename'] },
      { id: 'rename', type: 'field.rename', params: { fields: [{ sourceField: 'a', targetField: 'b' }] } },
    ],
  });
  const asl = compile(dataflow!, testRegistry(), { fuse: false });
  const tasks = Object.values(asl.States).filter((s: AslState) => s.Type === 'Task');
  const retried = tasks.map(
    (s) => new Set((s.Retry as { ErrorEquals: string[] }[] | undefined)?.flatMap((r) => r.ErrorEquals) ?? []),
  );
  // The names every Task retries: a Task that retried fewer would make the set smaller.
  const [first, ...rest] = retried;
  return new Set([...(first ?? [])].filter((name) => rest.every((names) => names.has(name))));
}

describe('toStepFailure', () => {
  it('names every transient error so that the compiled Retry matches it, and no permanent one', () => {
    // Prepare
    const retried = compiledRetryNames();
    const codes = Object.keys(ERROR_CODES) as IdxErrorCode[];

    // Act
    const transient = codes
      .filter(mayBeTransient)
      .map((code) => [code, toStepFailure(new IdxError(code, 'simulated', { transient: true })).name] as const);
    const permanent = codes.map(
      (code) => [code, toStepFailure(new IdxError(code, 'simulated', { transient: false })).name] as const,
    );
    const dropped = toStepFailure(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })).name;

    // Assess
    expect(transient.filter(([, name]) => !retried.has(name))).toEqual([]);
    expect(permanent.filter(([, name]) => retried.has(name))).toEqual([]);
    expect(retried.has(dropped)).toBe(true);
  });

  it('keeps the code, the location and the transience of a coded error in its message', () => {
    // Prepare
    const error = new IdxError('IDX_UIDMAP_THROTTLED', 'unprocessed items', { stepId: 'lookup' });

    // Act
    const failure = toStepFailure(error);

    // Assess
    expect(JSON.parse(failure.message)).toMatchObject({
      code: 'IDX_UIDMAP_THROTTLED',
      stepId: 'lookup',
      transient: true,
    });
  });
});
