import { describe, expect, it } from 'vitest';
import { addCounters, type StepCounters, zeroCounters } from '../../../lib/core/refs.ts';

const counters = (c: Partial<StepCounters>): StepCounters => ({ ...zeroCounters(), ...c });

describe('addCounters', () => {
  it("keeps a reader's latest pages and total over invocations instead of adding them up", () => {
    // Act
    const sum = addCounters(
      counters({ recordsOut: 300, pages: 1, expected: 3000 }),
      counters({ recordsOut: 300, pages: 2, expected: 3000 }),
    );
    const before = addCounters(counters({ pages: 4, expected: 3000 }), counters({ recordsOut: 0 }));

    // Assess
    expect(sum).toMatchObject({ recordsOut: 600, pages: 2, expected: 3000 });
    expect(before).toMatchObject({ pages: 4, expected: 3000 });
  });
});
