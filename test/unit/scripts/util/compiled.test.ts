import { describe, expect, it } from 'vitest';
import { cachedFunction, cachedValue } from '../../../../lib/scripts/util/compiled.ts';

describe('cachedFunction', () => {
  it('hands back the same function for the same parameters and body', () => {
    // Prepare
    const body = 'return a + 1;';

    // Act
    const first = cachedFunction<(a: number) => number>(['a'], body);
    const second = cachedFunction<(a: number) => number>(['a'], body);

    // Assess
    expect(second).toBe(first);
    expect(first(1)).toBe(2);
  });
});

describe('cachedValue', () => {
  it('builds a value once per key and hands the same one back after', () => {
    // Prepare
    let builds = 0;
    const make = () => {
      builds++;
      return { n: builds };
    };

    // Act
    const first = cachedValue('compiled.test\u0000a', make);
    const again = cachedValue('compiled.test\u0000a', make);
    const other = cachedValue('compiled.test\u0000b', make);

    // Assess
    expect(again).toBe(first);
    expect(other).not.toBe(first);
    expect(builds).toBe(2);
  });

  it('keeps nothing when building fails, so the next call builds again', () => {
    // Prepare
    let calls = 0;
    const failing = () => {
      calls++;
      throw new Error('does not compile');
    };

    // Act
    const attempt = () => cachedValue('compiled.test\u0000broken', failing);

    // Assess
    expect(attempt).toThrow('does not compile');
    expect(attempt).toThrow('does not compile');
    expect(calls).toBe(2);
    expect(cachedValue('compiled.test\u0000broken', () => 'fixed')).toBe('fixed');
  });

  it('keeps a value that is undefined without building it again', () => {
    // Prepare
    let builds = 0;

    // Act
    cachedValue('compiled.test\u0000undefined', () => {
      builds++;
      return undefined;
    });
    const again = cachedValue('compiled.test\u0000undefined', () => {
      builds++;
      return 'other';
    });

    // Assess
    expect(again).toBeUndefined();
    expect(builds).toBe(1);
  });
});
