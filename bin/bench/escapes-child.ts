/**
 * Child process of `npm run bench -- escapes`: runs one escape (index in argv[2]) against one sandbox (argv[3]:
 * `vm`, the former node:vm sandbox, or `quickjs`, record.evaluate's) in one phase (argv[4]: `validate`, what
 * validating a dataflow did with the script, or `run`, one record through it), then prints what happened as JSON.
 * A child per attempt, since a memory bomb may take the process down.
 */
import { existsSync } from 'node:fs';
import { recordEvaluate } from '../../lib/scripts/record.evaluate.ts';
import { ESCAPE_GLOBAL, ESCAPES } from '../../lib/testing/escapes.ts';
import { runScript } from '../../lib/testing/harness.ts';
import { Sandbox as VmSandbox } from './vm-sandbox.ts';

const [index, sandbox, phase, marker] = process.argv.slice(2);
const attack = ESCAPES[Number(index)];
if (!attack || !marker) throw new Error('usage: escapes-child <index> vm|quickjs validate|run <marker>');
const source = attack.script(marker);
const TIMEOUT_MS = 1000;
let answer: string;
try {
  if (sandbox === 'vm') {
    // What record.evaluate's validation and steps did with the former sandbox: load the script in a context
    // (validation too), then run process() per record.
    const timeoutMs = Number(attack.params?.timeoutMs ?? TIMEOUT_MS);
    const vm = new VmSandbox(source, { filename: 'script', timeoutMs, log: () => undefined, info: {} });
    answer = phase === 'validate' ? 'accepted' : JSON.stringify(vm.run([{ i: 1 }]));
  } else if (phase === 'validate') {
    const problems = recordEvaluate.check?.({
      script: Buffer.from(source).toString('base64'),
      timeoutMs: TIMEOUT_MS,
      ...attack.params,
    } as never);
    answer = problems?.length ? JSON.stringify(problems.map((p) => p.code)) : 'accepted';
  } else {
    const out = await runScript(
      recordEvaluate,
      { script: Buffer.from(source).toString('base64'), timeoutMs: TIMEOUT_MS, ...attack.params },
      { records: [{ i: 1 }] },
    );
    answer = JSON.stringify({
      records: out.records.length,
      rejected: out.rejected.map((r) => (r._errorDetails as { code: string }).code),
    });
  }
} catch (error) {
  answer = `refused: ${(error as Error).message.slice(0, 120)}`;
}
// A host promise may settle after the call: give it the time to act.
await new Promise((resolve) => setTimeout(resolve, 100));
const escaped = existsSync(marker) || (globalThis as Record<string, unknown>)[ESCAPE_GLOBAL] === true;
process.stdout.write(`${JSON.stringify({ escaped, answer })}\n`);
