import { describe, expect, it } from 'vitest';
import { type StepCounters, zeroCounters } from '../../../lib/core/refs.ts';
import { progressTotals } from '../../../lib/stores/jobs.ts';

const counters = (c: Partial<StepCounters>): StepCounters => ({ ...zeroCounters(), ...c });

describe('progressTotals', () => {
  it('takes the total a source announced before it read it all, and counts processed what no step rejected', () => {
    // Prepare
    const reader = counters({ recordsOut: 50_000, expected: 200_000, pages: 50 });
    const writer = counters({ recordsIn: 40_000, recordsOut: 39_990, recordsRejected: 10 });

    // Act
    const totals = progressTotals([reader, writer]);

    // Assess
    expect(totals).toEqual({ totalRecords: 200_000, processedRecords: 49_990 });
  });

  it("never announces more than the job's limit, nor less than was read", () => {
    // Prepare
    const reader = counters({ recordsOut: 10, expected: 200_000 });

    // Act
    const limited = progressTotals([reader], 10);
    const unknown = progressTotals([counters({ recordsOut: 700 })]);

    // Assess
    expect(limited).toEqual({ totalRecords: 10, processedRecords: 10 });
    expect(unknown).toEqual({ totalRecords: 700, processedRecords: 700 });
  });
});
