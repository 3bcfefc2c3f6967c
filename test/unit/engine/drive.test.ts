import { describe, expect, it } from 'vitest';
import { defineScript } from '../../../lib/core/script.ts';
import { StepClock } from '../../../lib/engine/drive.ts';
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

describe('StepClock', () => {
  it('charges the time a member waits for the member after it to that member, so each keeps its own', async () => {
    // Prepare
    let now = 0;
    const clock = new StepClock(() => now);

    // Act
    // The reader (0) works 5 ms, hands a batch to the next member (1), which works 20 ms, then reads 5 ms more.
    await clock.time(0, async () => {
      now += 5;
      await clock.time(1, async () => {
        now += 20;
      });
      now += 5;
    });
    // A member working while nobody else does gets all of it.
    await clock.time(2, async () => {
      now += 7;
    });
    now += 100; // nobody at work: charged to no member

    // Assess
    expect([clock.ownMs(0), clock.ownMs(1), clock.ownMs(2)]).toEqual([10, 20, 7]);
  });
});
