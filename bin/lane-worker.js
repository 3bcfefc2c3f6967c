// Worker module of a parallel lane when running from the project (the CLI, tests): serves the lane
// (lib/engine/lanes/worker-entry.ts) from the CLI's bundle, built when missing or stale (bin/cli-bundle.js), or
// from the sources through tsx when `IDX_FROM_SOURCES=1`.
import { runEntry } from './cli-bundle.js';

await runEntry('lane-worker');
