#!/usr/bin/env -S node --max-old-space-size=192
// Launcher for the TypeScript CLI: registers tsx's loader, then runs bin/idx.ts. The bounded old generation
// keeps memory flat whatever the input size: a run's live heap is small, and an unbounded one lets garbage pile
// up between collections (over 300 MB at a million records instead of about 240 MB).
import { register } from 'tsx/esm/api';

// The SDK's notices about Node.js 20 (end of support, future versions needing 22) are noise for CLI users, who
// cannot act on them mid-command; Lambda runs Node 22.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./idx.ts');
