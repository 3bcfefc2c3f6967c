/**
 * Validation that also answers "will it deploy": a dataflow whose compiled state machine is over Step Functions'
 * definition limit is refused at validation (`idx validate`, `cdk synth`), not by CloudFormation mid-deploy.
 */
import type { ScriptRegistry } from '../core/registry.ts';
import { MAX_DEFINITION_BYTES } from '../dataflow/limits.ts';
import { hasErrors, type Problem } from '../dataflow/problems.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { type ValidationResult, validateFile } from '../dataflow/validate.ts';
import { compile } from './compile.ts';

/**
 * A function ARN as long as a deployed one gets (partition, region, account and a 64-character name), so the
 * measured definition is no smaller than the deployed one.
 */
const LONGEST_FUNCTION_ARN = `arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:${'f'.repeat(64)}`;

/** The problem of a valid dataflow whose compiled definition is over the limit; none when it fits. */
export function definitionSizeProblems(dataflow: Dataflow, registry: ScriptRegistry): Problem[] {
  const definition = compile(dataflow, registry, { functionArn: LONGEST_FUNCTION_ARN });
  const bytes = Buffer.byteLength(JSON.stringify(definition));
  if (bytes <= MAX_DEFINITION_BYTES) return [];
  return [
    {
      code: 'IDX_DATAFLOW_LIMIT',
      severity: 'error',
      ...(dataflow.file ? { file: dataflow.file } : {}),
      path: '$',
      message: `the compiled state machine is ${bytes} bytes; Step Functions refuses a definition over 1 MB`,
      expected: `a compiled definition of at most ${MAX_DEFINITION_BYTES} bytes (fewer steps, or shorter params)`,
      received: `${bytes} bytes`,
    },
  ];
}

/** Loads and validates a dataflow file as `validateFile` does, then checks that it compiles within the limits. */
export function validateDeployableFile(file: string, registry: ScriptRegistry): ValidationResult {
  const result = validateFile(file, registry);
  if (!result.valid || !result.dataflow) return result;
  const problems = [...result.problems, ...definitionSizeProblems(result.dataflow, registry)];
  return { dataflow: result.dataflow, problems, valid: !hasErrors(problems) };
}
