/** The `idx` CLI entry point. */
import '../lib/local/polyfills.ts';
import { watchHeap } from '../lib/cli/heap.ts';
import { main } from '../lib/cli/main.ts';
import { describeError, IdxError } from '../lib/core/errors.ts';

// A reader that stops early (`idx scripts --json | head`) closes the pipe: the rest of the output has nowhere to
// go, which is not a failure of the command. Any other write error ends the process with one line.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    process.exit(1);
  });
}
// An error escaping every command's handling (a server callback throwing, a stray rejection) still prints as
// one coded line, never as a stack trace.
const fatal = (error: unknown) => {
  const coded = error instanceof IdxError ? error : new IdxError('IDX_INTERNAL', describeError(error));
  process.stderr.write(`${describeError(coded)}\n`);
  process.exit(1);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

// Running out of heap ends with one coded line rather than V8's crash report (where a check can run first).
watchHeap();
process.exitCode = await main(process.argv.slice(2));
