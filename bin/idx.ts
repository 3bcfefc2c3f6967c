/** The `idx` CLI entry point. */
import '../lib/local/polyfills.ts';
import { main } from '../lib/cli/main.ts';

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE ??= '1';
process.exitCode = await main(process.argv.slice(2));
