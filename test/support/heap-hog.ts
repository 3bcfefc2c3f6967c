/**
 * A process that runs out of heap the way a run that keeps what it reads does: a little more each task. For the
 * heap watch test (test/unit/cli/heap.test.ts):
 *
 *   node --max-old-space-size=48 --import tsx test/support/heap-hog.ts [watch]
 *
 * With `watch`, the CLI's heap watch runs in it.
 */
import { watchHeap } from '../../lib/cli/heap.ts';

if (process.argv[2] === 'watch') watchHeap();
const kept: string[][] = [];
function grow(): void {
  kept.push(Array.from({ length: 5000 }, (_, i) => `record ${kept.length}/${i} ${'x'.repeat(24)}`));
  setImmediate(grow);
}
grow();
