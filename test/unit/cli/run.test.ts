import { describe, expect, it } from 'vitest';
import { invocationBudget, parseDuration } from '../../../lib/cli/run.ts';

describe('parseDuration', () => {
  it('reads milliseconds, seconds, minutes and hours, and plain milliseconds', () => {
    // Act
    const values = ['1ms', '30s', '13m', '1h', '250'].map(parseDuration);

    // Assess
    expect(values).toEqual([1, 30_000, 780_000, 3_600_000, 250]);
  });

  it('refuses what is not a positive duration', () => {
    // Act
    const values = ['', '0s', '-1s', '5 days', 'soon'].map(parseDuration);

    // Assess
    expect(values).toEqual([undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('invocationBudget', () => {
  it('takes the flag before IDX_INVOCATION_BUDGET_MS, and nothing when neither is set', () => {
    // Act
    const flag = invocationBudget({ 'invocation-budget': '2s' }, { IDX_INVOCATION_BUDGET_MS: '5' });
    const env = invocationBudget({}, { IDX_INVOCATION_BUDGET_MS: '5' });
    const none = invocationBudget({}, {});

    // Assess
    expect([flag, env, none]).toEqual([2000, 5, undefined]);
  });

  it('refuses a flag that is not a duration with a usage error', () => {
    // Act
    const act = () => invocationBudget({ 'invocation-budget': 'fast' }, {});

    // Assess
    expect(act).toThrow(/--invocation-budget takes a duration/);
  });
});
