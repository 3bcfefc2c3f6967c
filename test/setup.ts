// Test setup shared by every test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

// Every temporary file of a test file goes in a folder of its own, removed once the file's tests are done: the
// test's own folders, the CDK apps' cloud assemblies (an App without `outdir` synthesizes into a new `cdk.out*`
// folder, about 11 MB, and keeps it), staging spools and console bundles, and those of the child processes it
// starts (they inherit TMPDIR). Node's tmpdir() reads TMPDIR on each call.
const root = mkdtempSync(join(tmpdir(), 'idx-test-'));
process.env.TMPDIR = root;
afterAll(() => {
  rmSync(root, { recursive: true, force: true, maxRetries: 3 });
});

import '../lib/local/polyfills.ts';
