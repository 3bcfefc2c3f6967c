/**
 * record.evaluate as it ran on the former `node:vm` sandbox (bin/bench/vm-sandbox.ts), for the benchmark only:
 * the same params and outcomes as lib/scripts/record.evaluate.ts, so `npm run bench -- scripts` measures the two
 * sandboxes in the same pipeline. Not a security boundary; never registered outside the benchmark.
 */
import { defineScript } from '../../lib/core/script.ts';
import { decodeScript, recordEvaluate } from '../../lib/scripts/record.evaluate.ts';
import { type Outcome, Sandbox } from './vm-sandbox.ts';

/** `record.evaluate.vm`: record.evaluate on node:vm. */
export const vmRecordEvaluate = defineScript({
  ...recordEvaluate,
  type: 'record.evaluate.vm',
  summary: 'record.evaluate on the former node:vm sandbox (benchmark comparison only).',
  check: undefined,
  create(params, ctx) {
    const sandbox = new Sandbox(decodeScript(params.script), {
      filename: 'script',
      timeoutMs: params.timeoutMs,
      info: { jobId: ctx.job.id, dataflowId: ctx.job.dataflowId, stepId: ctx.stepId, test: ctx.job.test },
      log: (level, message) => ctx.log[level](message),
    });
    return {
      records(batch, out) {
        const outcomes: Outcome[] = sandbox.run(batch);
        for (let i = 0; i < batch.length; i++) {
          const outcome = outcomes[i];
          const input = batch[i] ?? {};
          if (outcome?.kind === 'record') out.emit(outcome.record);
          else if (outcome?.kind === 'drop') out.drop(input);
          else if (outcome?.kind === 'reject')
            out.reject(outcome.record ?? input, { code: 'IDX_SCRIPT_REJECTED', message: outcome.message });
          else out.reject(input, { code: 'IDX_SCRIPT_ERROR', message: outcome?.message ?? 'no result' });
        }
      },
    };
  },
});
