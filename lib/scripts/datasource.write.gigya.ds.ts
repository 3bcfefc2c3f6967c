import { type DataRecord, defineScript } from '../core/script.ts';
import { callPerRecord, GIGYA_CONNECTION_PARAMS, GIGYA_REACHES, gigyaClientFor } from './util/gigya-step.ts';
import { getPath, setPath } from './util/paths.ts';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The params that name where a record is stored. */
interface StoreParams {
  readonly type: string;
  readonly oid: string;
  readonly uidField: string;
  readonly updateBehavior: string;
}

/** The ds.store params of a record (`oid: 'auto'` when it has no object id). */
function storeParams(params: StoreParams, record: DataRecord): Record<string, unknown> {
  const oid = getPath(record, params.oid);
  const uid = getPath(record, params.uidField);
  let data: Record<string, unknown>;
  if (isObject(record.data)) data = record.data;
  else {
    data = {};
    for (const [k, v] of Object.entries(record)) {
      if (k === params.oid || k === params.uidField || k.startsWith('_')) continue;
      data[k] = v;
    }
  }
  return {
    type: params.type,
    oid: oid === undefined || oid === null || oid === '' ? 'auto' : String(oid),
    ...(uid === undefined || uid === null || uid === '' ? {} : { UID: String(uid) }),
    data,
    updateBehavior: params.updateBehavior,
  };
}

/** `datasource.write.gigya.ds`: stores each record as a Data Store object with `ds.store`. */
export const datasourceWriteGigyaDs = defineScript({
  type: 'datasource.write.gigya.ds',
  summary: 'Stores each record as a Data Store object of one type with ds.store.',
  description:
    'The object id comes from the record field named by `oid` (records without it get a generated id, which is ' +
    "written back into that field); the owner account from `uidField`. The stored data is the record's `data` " +
    'object when it has one, otherwise the record without its id fields and `_`-prefixed fields (Data Store ' +
    'objects read by datasource.read.gigya.ds round-trip). Refused records (e.g. over 512 KB, unknown UID) go ' +
    'down the error path with `_errorDetails {errorCode, errorMessage, callId}`.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    type: { type: 'string', required: true, description: 'The Data Store type (collection).', examples: ['purchases'] },
    oid: {
      type: 'string',
      default: 'oid',
      description: 'Record field holding the object id; a record without it gets a generated one (`auto`).',
    },
    uidField: {
      type: 'string',
      default: 'UID',
      description: 'Record field holding the UID of the account the object belongs to; absent: a site-level object.',
    },
    updateBehavior: {
      type: 'string',
      enum: ['arrayPush', 'arraySet', 'replace'],
      default: 'arrayPush',
      description: 'How an existing object changes: merge appending to arrays, merge replacing arrays, or replace it.',
    },
    maxConnections: { type: 'integer', minimum: 1, maximum: 100, default: 10, description: 'Calls in flight at once.' },
    ...GIGYA_CONNECTION_PARAMS,
    maxCallsPerSecond: { ...GIGYA_CONNECTION_PARAMS.maxCallsPerSecond, default: 50 },
  },
  reaches: GIGYA_REACHES,
  dryRun: { call: (params, record) => ({ method: 'ds.store', params: storeParams(params, record) }) },
  async create(params, ctx) {
    const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: params.maxConnections });
    const store = async (record: DataRecord) => {
      const call = storeParams(params, record);
      const r = await client.call('ds.store', call);
      if (call.oid === 'auto' && typeof r.oid === 'string') setPath(record, params.oid, r.oid);
      return { value: undefined };
    };
    return {
      async records(batch, out) {
        const outcomes = await callPerRecord(batch, params.maxConnections, store);
        outcomes.forEach((outcome, i) => {
          const record = batch[i] as DataRecord;
          if ('failure' in outcome) out.reject(record, outcome.failure);
          else out.emit(record);
        });
        // Gigya answered every call without an error code for these: what the job counts as delivered.
        out.deliveredRecords(outcomes.filter((outcome) => !('failure' in outcome)).length);
      },
      close,
    };
  },
});
