/**
 * The deployed console's handler: a Lambda function URL (IAM-authenticated) calls it with each request. It builds
 * the console once per container (lib/deployed/console-function.ts) and hands it the event. The deployed dataflows are
 * bundled beside this file; the console's static files are read from their bucket (see lib/infra/console.ts).
 */

import type { FunctionUrlEvent, FunctionUrlResult } from '../lib/console/lambda.ts';
import { consoleFunctionFromEnvironment } from '../lib/deployed/console-function.ts';

let serve: Promise<(event: FunctionUrlEvent) => Promise<FunctionUrlResult>> | undefined;

/** Lambda entry point. */
export async function handler(event: FunctionUrlEvent): Promise<FunctionUrlResult> {
  // Built on the first request; a failed start (the secret unreadable) is tried again on the next one.
  serve ??= consoleFunctionFromEnvironment(new URL('./dataflows.json', import.meta.url)).catch((error: unknown) => {
    serve = undefined;
    throw error;
  });
  return (await serve)(event);
}
