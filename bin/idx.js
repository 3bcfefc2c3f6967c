#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 node --max-old-space-size=192 --max-semi-space-size=4
// Launcher for the TypeScript CLI: runs bin/idx.ts from a bundle of the sources, built when missing or stale
// (bin/cli-bundle.js; `IDX_FROM_SOURCES=1` runs the sources through tsx instead). The line above bounds memory,
// so that `idx run` stays under 200 MB of peak RSS whatever the input size (`npm run bench -- pipeline`):
// - the bounded old generation: a run's live heap is small, and an unbounded one lets garbage pile up between
//   collections (over 300 MB at a million records instead of about 240 MB);
// - 4 MB semi-spaces instead of V8's 16 MB: under a run's allocation rate V8 grows the young generation to its
//   largest (32 MB) within seconds, while a run's records die young at any size; 8 MB hold them as well;
// - glibc's malloc (mallopt(3), environment variables) with two arenas instead of eight per core, one per thread
//   that allocates (zlib and file I/O in libuv's pool, V8's helper threads), and with a fixed mmap threshold of
//   128 KiB: by default the threshold rises to the size of the largest block freed, after which buffers of a
//   few hundred KiB come from the arenas and stay in RSS when freed; with it fixed they are returned at once.
//   Other C libraries ignore both variables.
import { runEntry } from './cli-bundle.js';

// The SDK's notices about Node.js 20 (end of support, future versions needing 22) are noise for CLI users, who
// cannot act on them mid-command; Lambda runs Node 22.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
await runEntry('idx');
