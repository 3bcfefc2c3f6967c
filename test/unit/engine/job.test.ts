import { describe, expect, it } from 'vitest';
import { type StepResult, zeroCounters } from '../../../lib/core/refs.ts';
import { collectResults, firstRunFrom, parseCause, parseInput, totalsOf } from '../../../lib/engine/job.ts';

const start = new Date('2026-03-31T02:00:00.000Z');
const result = (
  stepId: string,
  counters: Partial<ReturnType<typeof zeroCounters>>,
  chain?: StepResult[],
): StepResult => ({
  stepId,
  type: 't',
  out: { kind: 'nothing' },
  rejected: { kind: 'records', parts: [], count: 0 },
  counters: { ...zeroCounters(), ...counters },
  done: true,
  iteration: 1,
  ...(chain ? { chain } : {}),
});

describe('firstRunFrom', () => {
  it('reads the last 24 hours for a once schedule or a manual run', () => {
    // Act / Assess
    expect(firstRunFrom(start, { name: 'n', frequencyType: 'once' }).toISOString()).toBe('2026-03-30T02:00:00.000Z');
    expect(firstRunFrom(start, undefined).toISOString()).toBe('2026-03-30T02:00:00.000Z');
  });

  it('reads one period back for a recurring schedule', () => {
    // Act / Assess
    expect(firstRunFrom(start, { name: 'n', frequencyType: 'hour', frequencyInterval: 6 }).toISOString()).toBe(
      '2026-03-30T20:00:00.000Z',
    );
    expect(firstRunFrom(start, { name: 'n', frequencyType: 'week', frequencyInterval: 1 }).toISOString()).toBe(
      '2026-03-24T02:00:00.000Z',
    );
    expect(firstRunFrom(start, { name: 'n', frequencyType: 'month', frequencyInterval: 1 }).toISOString()).toBe(
      '2026-03-03T02:00:00.000Z',
    );
  });
});

describe('parseInput', () => {
  it('accepts the scheduler’s input and rejects a mistyped field with its name', () => {
    // Act / Assess
    expect(parseInput({ scheduleId: 'nightly', fullExtract: false, limit: null, logLevel: 'info' })).toEqual({
      scheduleId: 'nightly',
      fullExtract: false,
      limit: null,
      logLevel: 'info',
    });
    expect(() => parseInput({ test: 'yes' })).toThrow(
      expect.objectContaining({ code: 'IDX_INPUT', location: { param: 'test' } }),
    );
    expect(() => parseInput([1])).toThrow(expect.objectContaining({ code: 'IDX_INPUT' }));
  });

  it('accepts dryRun as true or false only', () => {
    // Act / Assess
    expect(parseInput({ dryRun: true, test: true })).toEqual({ dryRun: true, test: true });
    expect(parseInput({ dryRun: false })).toEqual({ dryRun: false });
    for (const dryRun of ['true', 1, null])
      expect(() => parseInput({ dryRun })).toThrow(
        expect.objectContaining({ code: 'IDX_INPUT', location: { param: 'dryRun' }, expected: 'true or false' }),
      );
  });
});

describe('totalsOf', () => {
  it('counts the records sources produced and subtracts every rejection, through fused chains', () => {
    // Prepare
    const results = collectResults({
      s0: {
        value: result('read', { recordsOut: 90, recordsRejected: 10 }, [
          result('rename', { recordsIn: 90, recordsOut: 85, recordsRejected: 5 }),
        ]),
      },
      g1: { s2: { value: result('format', { recordsIn: 85, recordsOut: 85 }) } },
    });

    // Act
    const totals = totalsOf(results);

    // Assess
    expect(results.map((r) => r.stepId)).toEqual(['read', 'rename', 'format']);
    expect(totals).toEqual({ totalRecords: 100, processedRecords: 85 });
  });
});

describe('parseCause', () => {
  it('reads the coded error from a Lambda failure cause and from a local one', () => {
    // Prepare
    const payload = JSON.stringify({ code: 'IDX_RUN_LOCKED', message: 'busy' });

    // Act / Assess
    expect(
      parseCause({ Error: 'IdxError', Cause: JSON.stringify({ errorType: 'IdxError', errorMessage: payload }) }),
    ).toMatchObject({
      name: 'IdxError',
      code: 'IDX_RUN_LOCKED',
    });
    expect(parseCause({ Error: 'IdxError', Cause: payload })).toMatchObject({
      code: 'IDX_RUN_LOCKED',
      message: 'busy',
    });
    expect(parseCause({ Error: 'States.Timeout', Cause: 'timed out' })).toMatchObject({
      name: 'States.Timeout',
      message: 'timed out',
    });
  });
});
