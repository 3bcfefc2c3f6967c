import { describe, expect, it } from 'vitest';
import { lanesFor } from '../../../lib/infra/step-function.ts';

describe('lanesFor', () => {
  it('gives a step function one lane per full vCPU of its memory size, from 1 to 6', () => {
    // Act
    const lanes = [128, 1024, 1769, 3007, 3538, 5307, 10_240].map(lanesFor);

    // Assess
    expect(lanes).toEqual([1, 1, 1, 1, 2, 3, 5]);
  });
});
