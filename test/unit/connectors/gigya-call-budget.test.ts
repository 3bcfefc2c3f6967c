import { describe, expect, it } from 'vitest';
import { CallBudget, MAX_SLOWDOWNS, PACE_MARGIN, pacedRate, SLOWDOWN_STEP } from '../../../lib/connectors/gigya.ts';

describe('pacedRate', () => {
  it('starts calls a margin below the configured rate, a step lower for each 403048, down to a floor', () => {
    // Act
    const rates = [0, 1, 4, MAX_SLOWDOWNS, MAX_SLOWDOWNS + 50].map((n) => pacedRate(20, n));

    // Assess
    expect(rates[0]).toBeCloseTo(20 * (1 - PACE_MARGIN));
    expect(rates[1]).toBeCloseTo(20 * (1 - PACE_MARGIN - SLOWDOWN_STEP));
    expect(rates[2]).toBeCloseTo(20 * (1 - PACE_MARGIN - 4 * SLOWDOWN_STEP));
    expect(rates[4]).toBe(rates[3]);
    expect(rates[3]).toBeCloseTo(20 * 0.875);
    expect(pacedRate(Number.POSITIVE_INFINITY, 3)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('CallBudget', () => {
  it('slows by a step on each pause, for as long as it lives', () => {
    // Prepare
    const budget = new CallBudget({ callsPerSecond: 20 });

    // Act
    const before = budget.slowdowns;
    for (let i = 0; i < 3; i++) budget.pause(0);
    const after = budget.slowdowns;
    for (let i = 0; i < 20; i++) budget.pause(0);

    // Assess
    expect(before).toBe(0);
    expect(after).toBe(3);
    expect(budget.slowdowns).toBe(MAX_SLOWDOWNS);
  });
});
