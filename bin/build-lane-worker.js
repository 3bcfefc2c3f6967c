// Bundles the lane worker into the folder given as the first argument (a step function's package, from its
// bundling hook): registers tsx's loader, then runs lib/infra/lane-worker-build.ts.
import { register } from 'tsx/esm/api';

register();
const { buildLaneWorker } = await import('../lib/infra/lane-worker-build.ts');
const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('usage: node bin/build-lane-worker.js <output folder>\n');
  process.exit(2);
}
await buildLaneWorker(outDir);
