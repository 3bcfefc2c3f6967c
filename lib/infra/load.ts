/**
 * Loads the dataflows a deployment is made of: every `*.json` in a folder, validated exactly as `idx validate`
 * does (compiled size included), so a bad dataflow stops `cdk synth` with the same coded messages naming file,
 * step and parameter.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { definitionSizeProblems } from '../compiler/deployable.ts';
import { IdxError } from '../core/errors.ts';
import type { ScriptRegistry } from '../core/registry.ts';
import { formatProblem, type Problem } from '../dataflow/problems.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { validateFile, validateText } from '../dataflow/validate.ts';
import {
  applyParamOverrides,
  type DeploySettings,
  deployProblems,
  isDeployed,
  type ParamOverrides,
  selectionProblems,
} from './deploy-checks.ts';

/** The valid dataflows of a folder that deploy, and the warnings found in them. */
export interface LoadedDataflows {
  readonly dataflows: Dataflow[];
  readonly warnings: Problem[];
}

/** Validates a file with the deployment's params applied to its JSON first (see applyParamOverrides). */
function validateDeployed(file: string, registry: ScriptRegistry, params: ParamOverrides | undefined) {
  if (!params) return { ...validateFile(file, registry), overrideProblems: [] as Problem[] };
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // Unreadable or not JSON: validation says so in its own words.
    return { ...validateFile(file, registry), overrideProblems: [] as Problem[] };
  }
  const applied = applyParamOverrides(json, params, file);
  return { ...validateText(JSON.stringify(applied.json), registry, { file }), overrideProblems: applied.problems };
}

/**
 * Loads and validates every dataflow file of `dir` (sorted by name), with the deployment's params applied, and
 * returns the dataflows that deploy. Throws `IDX_DEPLOY_INVALID` listing every problem of every file when any
 * file has errors, when two files share a dataflow id, when the settings name a dataflow or step that does not
 * exist, or when a deployed dataflow leaves to run time what only works locally (see deployProblems).
 */
export function loadDataflowDir(dir: string, registry: ScriptRegistry, settings: DeploySettings = {}): LoadedDataflows {
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
    const result = validateDeployed(file, registry, settings.params);
    for (const p of [...result.overrideProblems, ...result.problems])
      (p.severity === 'error' ? errors : warnings).push(p);
    for (const p of result.valid && result.dataflow ? definitionSizeProblems(result.dataflow, registry) : [])
      (p.severity === 'error' ? errors : warnings).push(p);
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
  errors.push(...selectionProblems(settings, new Set(byId.keys()), dir));
  const deployed = dataflows.filter((d) => isDeployed(d.id, settings));
  for (const d of deployed) errors.push(...deployProblems(d, settings, registry));
  if (errors.length > 0) {
    const lines = [...errors, ...warnings].map(formatProblem);
    throw new IdxError(
      'IDX_DEPLOY_INVALID',
      `${errors.length} problem(s) in the dataflows of ${dir}; nothing is deployed until they are fixed:\n${lines.join('\n')}`,
      { details: { problems: errors } },
    );
  }
  return { dataflows: deployed, warnings };
}
