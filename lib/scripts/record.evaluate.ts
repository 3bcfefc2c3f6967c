import { TextDecoder } from 'node:util';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript, type ScriptCheckProblem, type StepOutput } from '../core/script.ts';
import { compileProblem, DEFAULT_MEMORY_MB, type Outcome, Sandbox, ScriptProblem } from './util/sandbox.ts';

/** Script log lines written to the job trace per step; more are counted, so a per-record log cannot flood it. */
const MAX_LOG_LINES = 100;
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

/** Decodes the base64 `script` param; throws a ScriptProblem when it is not base64 of UTF-8 text. */
export function decodeScript(base64: string): string {
  if (!BASE64.test(base64)) throw new ScriptProblem('the script is not base64 text');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(base64, 'base64'));
  } catch {
    throw new ScriptProblem('the script, once base64-decoded, is not UTF-8 text');
  }
}

/** `record.evaluate`: runs user JavaScript once per record. */
export const recordEvaluate = defineScript({
  type: 'record.evaluate',
  summary: 'Runs your JavaScript function process(record, ctx, logger, next, error) on every record.',
  description:
    'The base64 `script` defines `function process(record, ctx, logger, next, error)`. Return the record ' +
    '(changed or not) to pass it on, `null` to drop it (counted as dropped), or call ' +
    '`error.accept(errRecord, originalRecord)` to send errRecord (or the original when errRecord is empty) down ' +
    'the error path; what process returns after error.accept is ignored. A thrown error, a result that is not an ' +
    'object or null, or a run longer than `timeoutMs` rejects that record with the reason; the job goes on. ' +
    '`logger.info(message, object)` (also debug/warn/error, and console.log) writes to the job trace (the first ' +
    '100 lines; the rest are counted). `ctx.getSharedVariable(name)` / `ctx.setSharedVariable(name, value)` share ' +
    'values between records of one step run, across its invocations when the values are JSON (variables of the ' +
    'script itself start afresh in each invocation of a long step); `ctx.jobId`, `ctx.stepId`, `ctx.dataflowId` and `ctx.test` are ' +
    'there to read. `next` exists for compatibility and does nothing. The script runs in QuickJS, a JavaScript ' +
    'engine compiled to WebAssembly that shares no object with the host: no `require`, `process`, `import()`, ' +
    'timers, network or file system; records enter and leave it as JSON; promise callbacks run after each batch, so process() ' +
    'must return synchronously. Its memory is capped (`memoryMb`, a record that runs out fails with ' +
    '`IDX_SCRIPT_MEMORY`) and so is its recursion depth (about 700 calls). Validation parses the script and checks ' +
    'that it defines process; it never runs it. With notifyLastRecord, process is called once more with `null` after the ' +
    'last record; a record it returns is passed on (so this step may emit one more record than it received).',
  consumes: 'records',
  produces: 'records',
  expands: true,
  params: {
    script: {
      type: 'string',
      required: true,
      verbatim: true,
      description: 'The JavaScript source, base64-encoded (UTF-8).',
    },
    ECMAScriptVersion: {
      type: 'string',
      default: '12',
      description:
        'The language version the script was written for ("5.1", "6" … "12" are seen). Accepted for ' +
        'compatibility: scripts run on the current JavaScript engine, which reads every one of these versions.',
    },
    notifyLastRecord: {
      type: 'boolean',
      default: false,
      description: 'Call process once more with record = null after the last record (for totals or a footer).',
    },
    timeoutMs: {
      type: 'integer',
      default: 5000,
      minimum: 10,
      maximum: 600_000,
      description: 'Longest time process may spend on one record, in milliseconds; the record is then rejected.',
    },
    memoryMb: {
      type: 'integer',
      default: DEFAULT_MEMORY_MB,
      minimum: 8,
      maximum: 1024,
      description:
        'Most memory the script may hold, in MiB (its variables, shared variables, typed arrays and the batch of ' +
        'records it is given); the engine’s own 16 MiB come on top. A record whose processing runs out of it is ' +
        'rejected with IDX_SCRIPT_MEMORY.',
    },
  },
  check(params) {
    const problems: ScriptCheckProblem[] = [];
    let source: string;
    try {
      source = decodeScript(params.script);
    } catch (error) {
      return [
        {
          code: 'IDX_SCRIPT_INVALID',
          path: 'script',
          message: (error as Error).message,
          expected: 'base64 of a JavaScript source',
        },
      ];
    }
    // Parsed, never run: validating a dataflow must not execute what it carries.
    const compiled = compileProblem(source);
    if (compiled) {
      problems.push({
        code: 'IDX_SCRIPT_INVALID',
        path: 'script',
        message: compiled.message.startsWith('the script')
          ? compiled.message
          : `the script does not compile: ${compiled.message}`,
        expected: 'JavaScript defining function process(record, ctx, logger, next, error)',
        received: `a script of ${source.split('\n').length} lines`,
      });
    }
    return problems;
  },
  async create(params, ctx) {
    let logged = 0;
    let suppressed = 0;
    let sandbox: Sandbox;
    try {
      sandbox = await Sandbox.open(decodeScript(params.script), {
        filename: 'script',
        timeoutMs: params.timeoutMs,
        memoryBytes: params.memoryMb * 1024 * 1024,
        info: { jobId: ctx.job.id, dataflowId: ctx.job.dataflowId, stepId: ctx.stepId, test: ctx.job.test },
        log(level, message, json) {
          if (logged >= MAX_LOG_LINES) {
            suppressed++;
            return;
          }
          logged++;
          let data: Record<string, unknown> | undefined;
          if (json !== undefined) {
            try {
              data = { data: JSON.parse(json) };
            } catch {
              data = { data: json };
            }
          }
          ctx.log[level](message, data);
        },
      });
    } catch (error) {
      throw new IdxError('IDX_SCRIPT_INVALID', `record.evaluate: ${(error as Error).message}`, {
        stepId: ctx.stepId,
        param: 'script',
        expected: 'JavaScript defining function process(record, ctx, logger, next, error)',
      });
    }
    // The step's previous invocation: its shared variables and how many log lines the script wrote.
    const kept = ctx.continuation as { shared?: string; logged?: number } | undefined;
    if (kept?.shared !== undefined) sandbox.restoreSharedVariables(kept.shared);
    logged = kept?.logged ?? 0;
    const apply = (outcome: Outcome, input: DataRecord | undefined, out: StepOutput) => {
      switch (outcome.kind) {
        case 'record':
          out.emit(outcome.record);
          return;
        case 'drop':
          if (input) out.drop(input);
          return;
        case 'reject':
          out.reject(outcome.record ?? input ?? {}, { code: 'IDX_SCRIPT_REJECTED', message: outcome.message });
          return;
        case 'fail':
          out.reject(input ?? {}, { code: outcome.code, message: outcome.message });
          return;
      }
    };
    return {
      records(batch, out) {
        const outcomes = sandbox.run(batch);
        for (let i = 0; i < batch.length; i++) {
          apply(outcomes[i] ?? { kind: 'fail', code: 'IDX_SCRIPT_ERROR', message: 'no result' }, batch[i], out);
        }
      },
      end(out, { final }) {
        if (!final) {
          const shared = sandbox.sharedVariables();
          if (shared === undefined)
            ctx.log.warn('shared variables that cannot be written as JSON do not carry to the next invocation');
          return { continuation: { logged, ...(shared === undefined ? {} : { shared }) } };
        }
        if (params.notifyLastRecord) {
          const outcome = sandbox.last();
          if (outcome.kind === 'fail') ctx.log.error(`process(null) after the last record failed: ${outcome.message}`);
          apply(outcome, undefined, out);
        }
        if (suppressed) ctx.log.warn(`${suppressed} more log line(s) from the script were not written to the trace`);
        return undefined;
      },
      close() {
        sandbox.dispose();
      },
    };
  },
});
