/**
 * Loads the dataflows a deployment is made of: every `*.json` in a folder, validated exactly as `idx validate`
 * does (compiled size included), so a bad dataflow stops `cdk synth` with the same coded messages naming file,
 * step and parameter.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateDeployableFile } from '../compiler/deployable.ts';
import { IdxError } from '../core/errors.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { formatProblem, type Problem } from '../dataflow/problems.ts';
import type { Dataflow } from '../dataflow/types.ts';

/** The valid dataflows of a folder and the warnings found in them. */
export interface LoadedDataflows {
  readonly dataflows: Dataflow[];
  readonly warnings: Problem[];
}

/**
 * Loads and validates every dataflow file of `dir` (sorted by name). Throws `IDX_DEPLOY_INVALID` listing every
 * problem of every file when any file has errors, or when two files share a dataflow id.
 */
export function loadDataflowDir(dir: string, registry: ScriptRegistry): LoadedDataflows {
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.toLowerCase().endsWith('.json'))
        .sort()
        .map((f) => join(dir, f))
    : [];
  const dataflows: Dataflow[] = [];
  const warnings: Problem[] = [];
  const errors: Problem[] = [];
  const byId = new Map<string, string>();
  for (const file of files) {
    const result = validateDeployableFile(file, registry);
    for (const p of result.problems) (p.severity === 'error' ? errors : warnings).push(p);
    if (!result.valid || !result.dataflow) continue;
    const other = byId.get(result.dataflow.id);
    if (other !== undefined) {
      errors.push({
        code: 'IDX_DATAFLOW_DUPLICATE_ID',
        severity: 'error',
        file,
        path: '$.id',
        message: `dataflow id "${result.dataflow.id}" is also the id of ${other}; each deployed dataflow needs its own id`,
        expected: 'a unique id',
        received: JSON.stringify(result.dataflow.id),
      });
      continue;
    }
    byId.set(result.dataflow.id, file);
    dataflows.push(result.dataflow);
  }
  if (errors.length > 0) {
    const lines = [...errors, ...warnings].map(formatProblem);
    throw new IdxError(
      'IDX_DEPLOY_INVALID',
      `${errors.length} problem(s) in the dataflows of ${dir}; nothing is deployed until they are fixed:\n${lines.join('\n')}`,
      { details: { problems: errors } },
    );
  }
  return { dataflows, warnings };
}
