/** The `idx` CLI entry point. */
import '../lib/local/polyfills.ts';
import { main } from '../lib/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
