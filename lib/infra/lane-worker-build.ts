/**
 * Bundles the lane worker (lib/engine/lanes/worker-entry.ts) next to a bundled step handler, with the same
 * esbuild settings as the handlers, so a deployed step can start parallel lanes. Run by the step function's
 * bundling as `node bin/build-lane-worker.js <output dir>`.
 */
import { copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUNDLING } from './bundling.ts';

/** The file name of the bundled worker in a function's package. */
export const LANE_WORKER_FILE = 'lane-worker.mjs';

/**
 * Copies the RE2 WebAssembly module that dataflow regexes run in (re2-wasm, which reads `re2.wasm` from the
 * directory of the code that loads it: once bundled, the handler's own) into a bundle's directory.
 */
export function copyRe2Wasm(outDir: string): void {
  copyFileSync(re2WasmPath(), join(outDir, 're2.wasm'));
}

/** Where the RE2 WebAssembly module is in node_modules. */
export function re2WasmPath(): string {
  return createRequire(import.meta.url).resolve('re2-wasm/build/wasm/re2.wasm');
}

/** Writes the bundled lane worker into `outDir`, with the RE2 module beside it; returns its path. */
export async function buildLaneWorker(outDir: string): Promise<string> {
  const outfile = join(outDir, LANE_WORKER_FILE);
  await build({
    entryPoints: [fileURLToPath(new URL('../engine/lanes/worker-entry.ts', import.meta.url))],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLING.target ?? 'node22',
    minify: BUNDLING.minify ?? true,
    sourcemap: BUNDLING.sourceMap ?? false,
    sourcesContent: false,
    ...(BUNDLING.banner ? { banner: { js: BUNDLING.banner } } : {}),
    external: [...(BUNDLING.externalModules ?? [])],
    logLevel: 'warning',
  });
  // The handler and the lane worker share the function's directory, and with it this one copy.
  copyRe2Wasm(outDir);
  return outfile;
}
