import { describe, expect, it } from 'vitest';
import { defineScript } from '../../../lib/core/script.ts';
import { runScript } from '../../../lib/testing/harness.ts';

/** A record step that works for `ms` on each batch before passing it on. */
const busy = (ms: number) =>
  defineScript({
    type: 'test.busy',
    summary: 'Works on each batch for a while.',
    consumes: 'records',
    produces: 'records',
    params: {},
    create: () => ({
      records(batch, out) {
        const until = performance.now() + ms;
        while (performance.now() < until) {
          // Record work that does not await.
        }
        for (const r of batch) out.emit(r);
      },
    }),
  });

describe('ScriptDriver', () => {
  it('gives the event loop a turn between batches of long record work, so I/O callbacks are not held up', async () => {
    // Prepare
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const records = Array.from({ length: 20 }, (_, i) => ({ i }));

    // Act
    const out = await runScript(busy(3), {}, { records, batchSize: 1 });
    counting = false;

    // Assess
    expect(out.records).toEqual(records);
    expect(turns).toBeGreaterThanOrEqual(15);
  });
});
