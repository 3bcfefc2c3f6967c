/**
 * What a deployment adds to validation: which dataflows deploy, the step params a deployment sets over the
 * files (hosts and logins that stay empty in the repository so the same files run locally), and the checks that
 * only a deployed dataflow must pass, so a nightly run does not fail at 2 a.m. on something synth could see.
 */

import type { ScriptRegistry } from '../core/registry.ts';
import { isBlankTemplateValue } from '../dataflow/placeholders.ts';
import type { Problem } from '../dataflow/problems.ts';
import type { Dataflow } from '../dataflow/types.ts';
import { dataflowAccess } from './access.ts';

/** Step params set by the deployment: dataflow id → step id (or `*`: every step having the param) → params. */
export type ParamOverrides = Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;

/** The deployment's choices, from the CDK context (see lib/infra/app.ts). */
export interface DeploySettings {
  /** Ids of the dataflows to deploy; absent: every dataflow of the folder. */
  readonly only?: readonly string[];
  /** Ids of dataflows not to deploy (the local sample). */
  readonly skip?: readonly string[];
  readonly params?: ParamOverrides;
  /** The secrets the deployment provides (created in Secrets Manager); absent: not checked. */
  readonly secrets?: readonly string[];
}

/**
 * Params that mean something only locally when they are empty: there, an empty SFTP host is the embedded server
 * (and an empty username its login); deployed, nothing answers. An empty FTP host or S3 bucket (or a template's
 * `...` / `{{…}}`) is no place at all.
 */
const LOCAL_ONLY_BLANKS: readonly {
  readonly type: RegExp;
  readonly params: readonly string[];
  readonly why: string;
}[] = [
  {
    type: /^datasource\.(read|write)\.sftp$/,
    params: ['host', 'username'],
    why: 'empty means the embedded SFTP server of local mode, which a deployed run does not have',
  },
  { type: /^datasource\.(read|write)\.ftp$/, params: ['host'], why: 'an FTP step needs its server' },
  {
    type: /^datasource\.(read|write)\.eloqua$/,
    params: ['company'],
    why: 'empty means the Eloqua emulator of local mode, which a deployed run does not have',
  },
  { type: /^datasource\.(read|write)\.amazon\.s3$/, params: ['bucketName'], why: 'an S3 step needs its bucket' },
  {
    type: /^datasource\.write\.exacttarget$/,
    params: ['authBaseUrl', 'clientId'],
    why: 'Marketing Cloud has no shared auth host: empty means the Marketing Cloud emulator of local mode; set the installed package’s Authentication Base URI and client id',
  },
  {
    type: /^datasource\.write\.salesforce$/,
    params: ['primaryId'],
    why: 'the upsert needs the External ID field it is keyed on',
  },
];

/**
 * Applies the deployment's params to a dataflow file's JSON, before it is validated (so what is set is validated
 * like the rest). Returns the changed object and the problems of overrides that name nothing.
 */
export function applyParamOverrides(
  json: unknown,
  overrides: ParamOverrides | undefined,
  file: string,
): { json: unknown; problems: Problem[] } {
  const problems: Problem[] = [];
  if (!overrides || !json || typeof json !== 'object' || Array.isArray(json)) return { json, problems };
  const dataflow = json as { id?: unknown; steps?: unknown };
  const byStep = typeof dataflow.id === 'string' ? overrides[dataflow.id] : undefined;
  if (!byStep || !Array.isArray(dataflow.steps)) return { json, problems };
  const steps = dataflow.steps as { id?: unknown; params?: Record<string, unknown> }[];
  for (const [stepId, params] of Object.entries(byStep)) {
    const targets =
      stepId === '*'
        ? steps.filter((s) => Object.keys(params).some((k) => s.params && k in s.params))
        : steps.filter((s) => s.id === stepId);
    if (targets.length === 0) {
      problems.push({
        code: 'IDX_DEPLOY_OVERRIDE',
        severity: 'error',
        file,
        path: '$.steps',
        message: `identity-sync:params sets ${stepId === '*' ? `${Object.keys(params).join(', ')} on every step having them` : `params of step "${stepId}"`}, which dataflow "${String(dataflow.id)}" does not have`,
        expected:
          stepId === '*' ? 'a step with these params' : `one of ${steps.map((s) => JSON.stringify(s.id)).join(', ')}`,
        received: JSON.stringify(stepId),
      });
      continue;
    }
    for (const step of targets) {
      const keys =
        stepId === '*' ? Object.keys(params).filter((k) => step.params && k in step.params) : Object.keys(params);
      step.params = { ...step.params, ...Object.fromEntries(keys.map((k) => [k, params[k]])) };
    }
  }
  return { json, problems };
}

/** Problems of the deployment's choice of dataflows: ids it names that no file has. */
export function selectionProblems(settings: DeploySettings, ids: ReadonlySet<string>, dir: string): Problem[] {
  const problems: Problem[] = [];
  const check = (key: string, list: readonly string[] | undefined) => {
    for (const id of list ?? [])
      if (!ids.has(id))
        problems.push({
          code: 'IDX_DEPLOY_SELECTION',
          severity: 'error',
          file: dir,
          path: '$',
          message: `identity-sync:${key} names dataflow "${id}", which no file of ${dir} has`,
          expected: `one of ${[...ids].map((i) => JSON.stringify(i)).join(', ')}`,
          received: JSON.stringify(id),
        });
  };
  check('dataflows', settings.only);
  check('skipDataflows', settings.skip);
  check('params', Object.keys(settings.params ?? {}));
  return problems;
}

/** Whether a dataflow deploys under these settings. */
export function isDeployed(id: string, settings: DeploySettings): boolean {
  return (settings.only === undefined || settings.only.includes(id)) && !(settings.skip ?? []).includes(id);
}

/**
 * What a deployed dataflow must not leave to run time: connection params whose empty value only means something
 * locally, and secrets the deployment does not provide (when it lists them).
 */
export function deployProblems(dataflow: Dataflow, settings: DeploySettings, registry: ScriptRegistry): Problem[] {
  const problems: Problem[] = [];
  const file = dataflow.file;
  dataflow.steps.forEach((step, index) => {
    for (const rule of LOCAL_ONLY_BLANKS) {
      if (!rule.type.test(step.type)) continue;
      for (const param of rule.params) {
        const value = step.params[param];
        if (typeof value === 'string' && !isBlankTemplateValue(value)) continue;
        problems.push({
          code: 'IDX_DEPLOY_PARAM_EMPTY',
          severity: 'error',
          ...(file ? { file } : {}),
          stepId: step.id,
          path: `$.steps[${index}].params.${param}`,
          message: `${param} is empty in a deployed dataflow: ${rule.why}`,
          expected: `a value in the file, or in cdk.json: "identity-sync:params": {"${dataflow.id}": {"${step.id}": {"${param}": …}}}`,
          received: value === undefined ? 'nothing' : JSON.stringify(value),
        });
      }
    }
  });
  if (settings.secrets) {
    const provided = new Set(settings.secrets);
    for (const name of dataflowAccess(dataflow, registry).secrets)
      if (!provided.has(name))
        problems.push({
          code: 'IDX_DEPLOY_SECRET_UNKNOWN',
          severity: 'error',
          ...(file ? { file } : {}),
          path: '$.steps',
          message: `dataflow "${dataflow.id}" needs the secret "${name}", which identity-sync:secrets does not list`,
          expected: `a secret created in Secrets Manager and listed in identity-sync:secrets (${[...provided].map((n) => JSON.stringify(n)).join(', ') || 'none listed'})`,
          received: JSON.stringify(name),
        });
  }
  return problems;
}
