import { type DataRecord, defineScript } from '../core/script.ts';
import { createRecordCaller, GIGYA_CONNECTION_PARAMS, GIGYA_REACHES } from './util/gigya-step.ts';
import { getPath } from './util/paths.ts';

/** One parameter of the call: its name and where its value comes from. */
interface ApiParam {
  readonly paramName: string;
  readonly sourceField?: string | undefined;
  readonly value?: string | undefined;
}

/** The params of a record's call: each from its record field when present there, else its constant. */
function callParams(apiParams: readonly ApiParam[], record: DataRecord): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of apiParams) {
    let v: unknown;
    if (p.sourceField) v = getPath(record, p.sourceField);
    if (v === undefined && p.value !== undefined && p.value !== '') v = p.value;
    if (v !== undefined) out[p.paramName] = v;
  }
  return out;
}

/** `datasource.write.gigya.generic`: calls any Gigya REST method once per record. */
export const datasourceWriteGigyaGeneric = defineScript({
  type: 'datasource.write.gigya.generic',
  summary:
    'Calls any Gigya REST method once per record (importLiteAccount, setAccountInfo, deleteAccount, ds.store, …).',
  description:
    'Each entry of `apiParams` becomes one parameter of the call: the value of the record field `sourceField` ' +
    '(dotted paths, e.g. `_response.UID` from an earlier step) when that is given and present in the record, else ' +
    'the constant `value`; a parameter with neither is not sent. Objects are sent as JSON. With `addResponse` the ' +
    'reply is added to the record as `_response` (on the error path too). `{{…}}` texts are template blanks and ' +
    'are sent as written. With `apiKey` / `userKey` / `secret` the calls go to another site (site-to-site copy).',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    apiMethod: {
      type: 'string',
      required: true,
      description: 'The REST method, e.g. `accounts.importLiteAccount`.',
      examples: ['accounts.setAccountInfo', 'accounts.importLiteAccount', 'accounts.deleteAccount', 'ds.store'],
    },
    apiParams: {
      type: 'array',
      default: [],
      description: 'The parameters of the call.',
      items: {
        type: 'object',
        description: 'One parameter: its name and where its value comes from.',
        properties: {
          paramName: { type: 'string', required: true, description: 'The parameter name, e.g. `UID`, `profile`.' },
          sourceField: { type: 'string', description: 'Record field (dotted path) holding the value.' },
          value: {
            type: 'string',
            description: 'A constant value, used when sourceField is empty or absent from the record.',
          },
        },
      },
    },
    addResponse: {
      type: 'boolean',
      default: false,
      description: 'Add the API reply to the record as `_response`, for later steps.',
    },
    maxConnections: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Calls in flight at once.' },
    ...GIGYA_CONNECTION_PARAMS,
    maxCallsPerSecond: { ...GIGYA_CONNECTION_PARAMS.maxCallsPerSecond, default: 50 },
  },
  reaches: GIGYA_REACHES,
  dryRun: { call: (params, record) => ({ method: params.apiMethod, params: callParams(params.apiParams, record) }) },
  create: (params, ctx) =>
    createRecordCaller(params, ctx, (record) => ({
      method: params.apiMethod,
      params: callParams(params.apiParams, record),
    })),
});
