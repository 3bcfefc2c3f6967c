/**
 * The step function as lambdas/step.ts builds it (the engine's handler, the default registry), but with its
 * runtime config given as JSON on the command line, so a test can point the bundled handler at the local
 * stand-ins: bundled with the Lambda bundling options and run on the Lambda runtime's Node.js by
 * test/integration/engine/bundled-step.test.ts. Reads a `start` event and a `step` event (argv[3], argv[4]), runs
 * the step in the job the start made, and prints both answers.
 */
import type { EngineEvent, StepEvent } from '../../lib/core/events.ts';
import type { JobContext } from '../../lib/core/script.ts';
import type { RuntimeConfig } from '../../lib/core/services.ts';
import { handle } from '../../lib/engine/handler.ts';
import { LocalSecretResolver } from '../../lib/engine/secrets.ts';
import { createServices } from '../../lib/engine/services.ts';
import { defaultRegistry } from '../../lib/scripts/index.ts';

const config = JSON.parse(process.argv[2] ?? '{}') as RuntimeConfig;
const start = JSON.parse(process.argv[3] ?? '{}') as EngineEvent;
const step = JSON.parse(process.argv[4] ?? '{}') as StepEvent;
const services = createServices(config, new LocalSecretResolver({}));
const options = { deadline: Date.now() + 60_000, echo: false };
const job = (await handle(start, services, defaultRegistry(), options)) as JobContext;
const result = await handle({ ...step, job }, services, defaultRegistry(), options);
process.stdout.write(`${JSON.stringify({ node: process.version, job, result })}\n`);
