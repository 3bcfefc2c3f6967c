import { type DataRecord, defineScript } from '../core/script.ts';
import { createRecordCaller, GIGYA_CONNECTION_PARAMS, GIGYA_REACHES, nestedCallParams } from './util/gigya-step.ts';

/** The step params that shape each call besides the record's fields. */
interface ImportParams {
  readonly importPolicy: string;
  readonly handleIdentityConflicts?: string | undefined;
}

/**
 * The importFullAccount params of a record: each top-level field (flat dotted keys nested) as the parameter of the
 * same name, then the step's policy, which wins over a record field of that name.
 */
function importCall(params: ImportParams, record: DataRecord): { method: string; params: Record<string, unknown> } {
  return {
    method: 'accounts.importFullAccount',
    params: {
      ...nestedCallParams(record, (key) => key !== 'importPolicy' && key !== 'handleIdentityConflicts'),
      importPolicy: params.importPolicy,
      ...(params.handleIdentityConflicts === undefined
        ? {}
        : { handleIdentityConflicts: params.handleIdentityConflicts }),
    },
  };
}

/**
 * `datasource.write.gigya.importaccount`: creates full accounts, or updates them with `importPolicy: upsert`,
 * with `accounts.importFullAccount`, one call per record.
 */
export const datasourceWriteGigyaImportaccount = defineScript({
  type: 'datasource.write.gigya.importaccount',
  summary:
    'Imports full accounts (UID, loginIDs, password hash, profile, data, subscriptions, …) with accounts.importFullAccount.',
  description:
    'Each top-level field of a record is sent as the importFullAccount parameter of the same name (objects as ' +
    'JSON; flat keys such as `profile.email` are nested first; `_`-prefixed fields are not sent): `uid` (or ' +
    '`UID`; Gigya reads the name in any case) or `createUID: true`, `loginIDs`, `password`, `profile`, `data`, ' +
    '`subscriptions`, `preferences`, `emails`, `identities`, `context`, … Gigya ignores the fields it does not ' +
    'import and lists them in the reply. `importPolicy: insert` creates accounts only (an existing UID is ' +
    'refused with 400003); `upsert` also updates existing ones, overwriting what is sent and replacing loginIDs, ' +
    'emails, password and identities as a whole. No emails are sent to the users. A record Gigya refuses (UID or ' +
    'loginID taken, validation, bad hash settings) goes down the error path with `_errorDetails {errorCode, ' +
    'errorMessage, errorDetails, callId, validationErrors}`; with `addResponse` the reply is added as `_response` ' +
    '(its `UID` feeds a following datasource.write.gigya.generic, e.g. accounts.setAccountInfo for the fields ' +
    'the import does not take). Credential errors fail the step; throttling and server errors are retried with ' +
    'backoff, and a step retried after they outlive their retries sends its unfinished batch again (safe with ' +
    'upsert; with insert, accounts of that batch imported before the failure come back as 400003 rejects). ' +
    'SAP advises never to repeat a UID within one import: calls run in parallel, so the order of two imports of ' +
    'one UID is not defined. The default policy follows the API (`insert`); the toolkit templates set `upsert`.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    importPolicy: {
      type: 'string',
      enum: ['insert', 'upsert'],
      default: 'insert',
      description: 'insert: create accounts only (an existing UID is an error); upsert: create or update.',
    },
    handleIdentityConflicts: {
      type: 'string',
      enum: ['error', 'ignore', 'connect'],
      description:
        'A social identity in `identities` already linked to another account: refuse the record (error), drop ' +
        'the identity (ignore), or keep it as a connection that cannot log in (connect). Not sent when absent ' +
        "(Gigya's default is error). Not in importFullAccount's documented params: sent as the writer's own.",
    },
    addResponse: {
      type: 'boolean',
      default: false,
      description: 'Add the reply (`UID`, `context`, `identityConflicts`, …) to the record as `_response`.',
    },
    maxConnections: {
      type: 'integer',
      minimum: 1,
      maximum: 100,
      default: 10,
      description: 'Calls in flight at once (the toolkit templates use 20).',
    },
    ...GIGYA_CONNECTION_PARAMS,
    maxCallsPerSecond: { ...GIGYA_CONNECTION_PARAMS.maxCallsPerSecond, default: 50 },
  },
  reaches: GIGYA_REACHES,
  dryRun: { call: (params, record) => importCall(params, record) },
  create: (params, ctx) => createRecordCaller(params, ctx, (record) => importCall(params, record)),
});
