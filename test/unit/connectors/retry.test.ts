import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetry } from '../../../lib/connectors/retry.ts';

describe('backoffDelay', () => {
  it('doubles from the base delay up to the cap, with at most 25% jitter below', () => {
    // Act
    const low = [1, 2, 3, 10].map((a) => backoffDelay(a, 1000, 30_000, () => 0));
    const high = [1, 2, 3, 10].map((a) => backoffDelay(a, 1000, 30_000, () => 1));

    // Assess
    expect(low).toEqual([750, 1500, 3000, 22_500]);
    expect(high).toEqual([1000, 2000, 4000, 30_000]);
  });
});

describe('withRetry', () => {
  it('retries transient failures until the work succeeds', async () => {
    // Prepare
    const retries: number[] = [];
    let calls = 0;

    // Act
    const result = await withRetry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error('dropped');
        return 'done';
      },
      { attempts: 5, baseDelayMs: 1, isTransient: () => true, onRetry: (_e, attempt) => retries.push(attempt) },
    );

    // Assess
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('stops after the last attempt and rethrows the last failure', async () => {
    // Prepare
    let calls = 0;

    // Act
    const run = withRetry(
      async (attempt) => {
        calls++;
        throw new Error(`failure ${attempt}`);
      },
      { attempts: 3, baseDelayMs: 1, isTransient: () => true },
    );

    // Assess
    await expect(run).rejects.toThrow('failure 3');
    expect(calls).toBe(3);
  });

  it('does not retry a permanent failure', async () => {
    // Prepare
    let calls = 0;

    // Act
    const run = withRetry(
      async () => {
        calls++;
        throw new Error('denied');
      },
      { attempts: 5, baseDelayMs: 1, isTransient: () => false },
    );

    // Assess
    await expect(run).rejects.toThrow('denied');
    expect(calls).toBe(1);
  });
});
