/**
 * The CDK app's wiring: context values → stack props, the dataflows folder → validated dataflows → the stack.
 * bin/app.ts only calls {@link buildApp}.
 *
 * Context keys (cdk.json or `cdk synth -c key=value`):
 * - `identity-sync:dataflowsDir`: folder of dataflow files (default `dataflows`)
 * - `identity-sync:stackName`: the stack id (default `IdentitySync`)
 * - `identity-sync:namePrefix`: prefix of named resources (default `identity-sync`)
 * - `identity-sync:secretPrefix`: prefix of secret names (default `identity-sync/`)
 * - `identity-sync:stageExpirationDays`: days staged objects are kept (default 7)
 * - `identity-sync:functions`: step function settings, `{"*": {...}, "<dataflow id>": {...}}` with
 *   `memorySize` (MB) and `timeoutSeconds`
 * - `identity-sync:dataflows`: ids of the dataflows to deploy (default every file of the folder)
 * - `identity-sync:skipDataflows`: ids of dataflows not to deploy (cdk.json: the local sample)
 * - `identity-sync:params`: step params set for the deployment, `{"<dataflow id>": {"<step id>" | "*": {...}}}`
 *   (SFTP hosts and logins the files leave empty so they run locally)
 * - `identity-sync:secrets`: the secret names created in Secrets Manager; when set, a dataflow needing another
 *   one fails the synth
 * Values given with `-c key=value` are JSON text (`-c 'identity-sync:skipDataflows=["sample-s3-csv"]'`).
 * - `identity-sync:maxAttempts`: attempts of a job that fails on a transient cause, the first included (default 3;
 *   1: never run again); an execution's input `maxAttempts` overrides it
 * - `identity-sync:retryBackoffSeconds`: the pause before a job's second attempt, doubling before each further
 *   one (default 60)
 * - `identity-sync:rejectedRecordsAlarmPercent`: a dataflow's alarm goes off when a job rejects more than this share
 *   of the records it read, in percent (default 5)
 */
import { Annotations, type App, Duration } from 'aws-cdk-lib';
import { IdxError, showValue } from '../core/errors.ts';
import { formatProblem } from '../dataflow/problems.ts';
import { defaultRegistry } from '../scripts/index.ts';
import type { DeploySettings, ParamOverrides } from './deploy-checks.ts';
import { loadDataflowDir } from './load.ts';
import { IdentitySyncStack, type IdentitySyncStackProps } from './stack.ts';
import type { StepFunctionSettings } from './step-function.ts';

const KEY = 'identity-sync';

function settingsOf(value: unknown, where: string): StepFunctionSettings {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${where} must be an object`);
  const v = value as Record<string, unknown>;
  for (const k of Object.keys(v)) {
    if (k !== 'memorySize' && k !== 'timeoutSeconds')
      throw new Error(`${where}.${k} is unknown (memorySize, timeoutSeconds)`);
  }
  const num = (k: string) => {
    const n = typeof v[k] === 'string' ? Number(v[k]) : v[k];
    if (n !== undefined && (typeof n !== 'number' || !Number.isInteger(n)))
      throw new Error(`${where}.${k} must be a whole number`);
    return n as number | undefined;
  };
  const memorySize = num('memorySize');
  const timeoutSeconds = num('timeoutSeconds');
  return {
    ...(memorySize === undefined ? {} : { memorySize }),
    ...(timeoutSeconds === undefined ? {} : { timeout: Duration.seconds(timeoutSeconds) }),
  };
}

/** Stack props from the app's context (everything but the dataflows). */
export function propsFromContext(get: (key: string) => unknown): Omit<IdentitySyncStackProps, 'dataflows'> {
  const str = (k: string) => {
    const v = get(`${KEY}:${k}`);
    return typeof v === 'string' && v !== '' ? v : undefined;
  };
  const days = get(`${KEY}:stageExpirationDays`);
  const whole = (k: string, min: number): number | undefined => {
    const v = get(`${KEY}:${k}`);
    if (v === undefined) return undefined;
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min)
      throw new Error(`${KEY}:${k} must be a whole number of at least ${min}`);
    return n;
  };
  const maxAttempts = whole('maxAttempts', 1);
  const rejectedValue = get(`${KEY}:rejectedRecordsAlarmPercent`);
  const rejectedPercent = rejectedValue === undefined ? undefined : Number(rejectedValue);
  if (rejectedPercent !== undefined && !(rejectedPercent >= 0 && rejectedPercent <= 100))
    throw new Error(`${KEY}:rejectedRecordsAlarmPercent must be a number from 0 to 100`);
  const backoffSeconds = whole('retryBackoffSeconds', 0);
  const functions = get(`${KEY}:functions`);
  const parsedFunctions =
    typeof functions === 'string' ? (JSON.parse(functions) as unknown) : (functions as unknown | undefined);
  const settings: Record<string, StepFunctionSettings> = {};
  let defaults: StepFunctionSettings | undefined;
  if (parsedFunctions !== undefined) {
    if (!parsedFunctions || typeof parsedFunctions !== 'object') throw new Error(`${KEY}:functions must be an object`);
    for (const [id, value] of Object.entries(parsedFunctions)) {
      const s = settingsOf(value, `${KEY}:functions.${id}`);
      if (id === '*') defaults = s;
      else settings[id] = s;
    }
  }
  return {
    ...(str('namePrefix') ? { namePrefix: str('namePrefix') } : {}),
    ...(str('secretPrefix') ? { secretPrefix: str('secretPrefix') } : {}),
    ...(days === undefined ? {} : { stageExpiration: Duration.days(Number(days)) }),
    ...(defaults ? { functionDefaults: defaults } : {}),
    ...(rejectedPercent === undefined ? {} : { rejectedRecordsAlarmPercent: rejectedPercent }),
    ...(Object.keys(settings).length ? { functionSettings: settings } : {}),
    ...(maxAttempts === undefined && backoffSeconds === undefined
      ? {}
      : {
          attempts: {
            ...(maxAttempts === undefined ? {} : { maxAttempts }),
            ...(backoffSeconds === undefined ? {} : { backoffSeconds }),
          },
        }),
  };
}

/** A context value as given in cdk.json (JSON already) or with `-c key=value` (JSON text). */
function jsonOf(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function idList(value: unknown, key: string): string[] | undefined {
  const v = jsonOf(value);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new IdxError('IDX_DEPLOY_CONTEXT', `${KEY}:${key} must be a list of names`, {
      expected: 'a JSON array of strings, e.g. ["sample-s3-csv"]',
      received: showValue(value),
    });
  return v as string[];
}

/** The deployment settings of the app's context: which dataflows, their params, the secrets provided. */
export function deploySettingsFromContext(get: (key: string) => unknown): DeploySettings {
  const only = idList(get(`${KEY}:dataflows`), 'dataflows');
  const skip = idList(get(`${KEY}:skipDataflows`), 'skipDataflows');
  const secrets = idList(get(`${KEY}:secrets`), 'secrets');
  const params = jsonOf(get(`${KEY}:params`));
  const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (
    params !== undefined &&
    !(
      isObject(params) &&
      Object.values(params).every((steps) => isObject(steps) && Object.values(steps).every(isObject))
    )
  )
    throw new IdxError('IDX_DEPLOY_CONTEXT', `${KEY}:params must map dataflow ids to step ids to params`, {
      expected: '{"<dataflow id>": {"<step id>" or "*": {"<param>": value}}}',
      received: showValue(params),
    });
  return {
    ...(only ? { only } : {}),
    ...(skip ? { skip } : {}),
    ...(secrets ? { secrets } : {}),
    ...(params ? { params: params as ParamOverrides } : {}),
  };
}

/** Loads and validates the dataflows named by the app's context and adds the stack to the app. */
export function buildApp(app: App): IdentitySyncStack {
  const get = (key: string) => app.node.tryGetContext(key) as unknown;
  const dir = (get(`${KEY}:dataflowsDir`) as string | undefined) ?? 'dataflows';
  const registry = defaultRegistry();
  const { dataflows, warnings } = loadDataflowDir(dir, registry, deploySettingsFromContext(get));
  const stack = new IdentitySyncStack(app, (get(`${KEY}:stackName`) as string | undefined) ?? 'IdentitySync', {
    dataflows,
    registry,
    ...propsFromContext(get),
  });
  for (const w of warnings) Annotations.of(stack).addWarningV2(`${KEY}:${w.code}`, formatProblem(w));
  return stack;
}
