#!/usr/bin/env node
// Launcher for the TypeScript CLI: registers tsx's loader, then runs bin/idx.ts.
import { register } from 'tsx/esm/api';

// The SDK's Node 20 end-of-support notice is noise for CLI users; Lambda runs Node 22.
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= '1';
register();
await import('./idx.ts');
