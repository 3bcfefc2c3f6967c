import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { laneSettings } from '../../../lib/engine/lanes/settings.ts';

describe('laneSettings', () => {
  it('gives no parallel lanes unless IDX_LANES asks for more than one, only the main thread lane for kernels', () => {
    // Act
    const unset = laneSettings({});
    const one = laneSettings({ IDX_LANES: '1' });
    const noKernels = laneSettings({ IDX_LANES: '1', IDX_KERNELS: '0' });

    // Assess
    expect(unset).toEqual({ count: 1, worker: '', minRecords: 50_000, minBytes: 16 * 1024 * 1024, kernels: true });
    expect(one).toEqual(unset);
    expect(noKernels).toBeUndefined();
  });

  it('reads the count, the thresholds and the worker bundled next to the sources', () => {
    // Act
    const settings = laneSettings({ IDX_LANES: '3', IDX_LANES_MIN_RECORDS: '10', IDX_LANES_MIN_BYTES: '20' });

    // Assess
    expect(settings).toMatchObject({ count: 3, minRecords: 10, minBytes: 20 });
    expect(settings?.worker).toMatch(/bin\/lane-worker\.js$/);
  });

  it('gives one lane per core for auto, and only the main thread lane where the worker module is missing', () => {
    // Act
    const auto = laneSettings({ IDX_LANES: 'auto' });
    const missing = laneSettings({ IDX_LANES: '2', IDX_LANE_WORKER: '/nowhere/lane-worker.mjs' });

    // Assess
    expect(auto?.count).toBe(Math.min(4, availableParallelism()));
    expect(missing).toMatchObject({ count: 1, worker: '' });
  });
});
