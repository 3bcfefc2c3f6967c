// Worker module of a parallel lane when running from the TypeScript sources (the CLI, tests): registers tsx's
// loader in the worker thread, then serves the lane (lib/engine/lanes/worker-entry.ts).
import { register } from 'tsx/esm/api';

register();
await import('../lib/engine/lanes/worker-entry.ts');
