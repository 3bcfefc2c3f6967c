/**
 * How the Lambda handlers are bundled: esbuild from node_modules (never Docker), ESM for Node 22, minified, with
 * source maps for readable stack traces. The AWS SDK is bundled too, so the deployed code runs the exact SDK
 * versions the tests ran, not whichever the Lambda runtime happens to ship.
 */
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The Lambda runtime of every handler. */
export const LAMBDA_RUNTIME = Runtime.NODEJS_22_X;

/** Why the runtime is not the newest one Lambda offers (cdk-nag AwsSolutions-L1). */
export const LAMBDA_RUNTIME_REASON =
  'Node.js 22 is the runtime the engine is built and tested for; moving to a newer one is a deliberate upgrade.';

/** Graviton: cheaper per GB-second for this I/O-bound work. */
export const LAMBDA_ARCHITECTURE = Architecture.ARM_64;

/** X-Ray tracing of every handler. */
export const LAMBDA_TRACING = Tracing.ACTIVE;

/** esbuild options shared by every handler. */
export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  // The map only has to name files and lines; leaving the sources out keeps the package small.
  sourcesContent: false,
  // ESM output has no `require`, `__filename` or `__dirname`; bundled CommonJS dependencies (ssh2) use them.
  banner: [
    "import { createRequire as __idxCreateRequire } from 'node:module';",
    "import { fileURLToPath as __idxFileURLToPath } from 'node:url';",
    "import { dirname as __idxDirname } from 'node:path';",
    'const require = __idxCreateRequire(import.meta.url);',
    'const __filename = __idxFileURLToPath(import.meta.url);',
    'const __dirname = __idxDirname(__filename);',
  ].join(' '),
  bundleAwsSDK: true,
  // Native add-ons are left out: built for this machine, not for Lambda's ARM64, and ssh2 loads both inside
  // try/catch and falls back to its JavaScript implementation.
  externalModules: ['cpu-features', '*.node'],
  forceDockerBundling: false,
};
