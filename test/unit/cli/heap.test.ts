import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { outOfMemoryError } from '../../../lib/cli/heap.ts';
import { runNode } from '../../support/node-process.ts';

const HOG = fileURLToPath(new URL('../../support/heap-hog.ts', import.meta.url));

function hog(...args: string[]) {
  return runNode(['--max-old-space-size=48', '--import', 'tsx', HOG, ...args]);
}

describe('the heap watch', () => {
  it("ends a process that runs out of heap with one coded line instead of V8's crash report", async () => {
    // Act
    const [watched, unwatched] = await Promise.all([hog('watch'), hog()]);

    // Assess
    expect(watched.status).toBe(1);
    expect(watched.stderr.trim().split('\n')).toHaveLength(1);
    expect(watched.stderr).toMatch(
      /^IDX_OUT_OF_MEMORY: the run needs more memory than the heap of this process allows \(expected under 85% of the 48 MB heap live after a full garbage collection \(node --max-old-space-size=N gives it more\), received \d+ MB live\)\n$/,
    );
    expect(unwatched.status).not.toBe(0);
    expect(unwatched.stderr).toContain('JavaScript heap out of memory');
  });

  it('says how much was live against the limit', () => {
    // Act
    const error = outOfMemoryError(180 * 1024 * 1024, 192 * 1024 * 1024, 0.85);

    // Assess
    expect(error).toMatchObject({ code: 'IDX_OUT_OF_MEMORY', received: '180 MB live' });
    expect(error.expected).toContain('under 85% of the 192 MB heap');
  });
});
