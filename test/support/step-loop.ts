/** A step run as the compiled state machine's Task loop runs it: invoked again from its result until it is done. */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import type { StepEvent } from '../../lib/core/events.ts';
import type { StepResult } from '../../lib/core/refs.ts';
import type { ScriptRegistry } from '../../lib/core/registry.ts';
import type { Services } from '../../lib/core/services.ts';
import { handle } from '../../lib/engine/handler.ts';

/** Runs a step in a job record of its own, each invocation with `budgetMs`, until it is done; returns its last result. */
export async function loopStep(
  services: Services,
  registry: ScriptRegistry,
  e: StepEvent,
  budgetMs: number,
): Promise<StepResult> {
  await services.dynamo.send(
    new PutCommand({
      TableName: services.config.tables.jobs,
      Item: { id: e.job.id, dataflowId: e.job.dataflowId, startTime: e.job.startTime, steps: {}, trace: [] },
    }),
  );
  let previous: StepResult | { iteration: 0 } = { iteration: 0 };
  for (;;) {
    const result = (await handle({ ...e, previous }, services, registry, {
      deadline: Date.now() + budgetMs,
      echo: false,
    })) as StepResult;
    if (result.done) return result;
    previous = result;
  }
}
