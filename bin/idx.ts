/** The `idx` CLI entry point. */
import '../lib/local/polyfills.ts';
import { watchHeap } from '../lib/cli/heap.ts';
import { main } from '../lib/cli/main.ts';

// Running out of heap ends with one coded line rather than V8's crash report (where a check can run first).
watchHeap();
process.exitCode = await main(process.argv.slice(2));
