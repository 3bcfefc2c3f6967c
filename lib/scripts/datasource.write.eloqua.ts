import { ELOQUA_MAX_POST_BYTES, ELOQUA_MAX_POSTS_PER_SYNC, type EloquaClient } from '../connectors/eloqua.ts';
import { type DataRecord, defineScript, type RecordError, type ScriptContext } from '../core/script.ts';
import {
  checkEloquaFields,
  columnOf,
  ELOQUA_CONNECTION_PARAMS,
  ELOQUA_FIELDS_PARAM,
  eloquaClientFor,
  statementOf,
  syncToEnd,
} from './util/eloqua-step.ts';
import { getPath } from './util/paths.ts';
import { groupedRecords, groupMarkerKey, readGroupMarker, settle, writeGroupMarker } from './util/record-writer.ts';

/** Leaves room below Eloqua's 32 MB per data POST for the JSON array's punctuation. */
const MAX_POST_BYTES = ELOQUA_MAX_POST_BYTES - 1024 * 1024;

/** Values of `subscriptionField` read as subscribed and unsubscribed; anything else sets no status. */
const SUBSCRIBED = new Set(['true', '1', 'yes', 'subscribed']);
const UNSUBSCRIBED = new Set(['false', '0', 'no', 'unsubscribed']);

/** Which import a record goes to: one per global subscription status it sets, or none. */
type Part = 'subscribed' | 'unsubscribed' | 'unchanged';

/** The syncs of one group of records started so far, kept in the stage so a retried invocation resumes them. */
interface GroupMarker {
  readonly syncs: readonly { readonly part: Part; readonly uri: string; readonly rows: number }[];
}

/** A record's value as Eloqua takes it: text, empty for no value. */
function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

type Params = {
  readonly fields: readonly { sourceField: string; targetField: string }[];
  readonly identifierField: string;
  readonly subscriptionField?: string;
};

/** The row a record is imported as, keyed by the definition's columns. */
function rowOf(record: DataRecord, params: Params): Record<string, string> {
  const row: Record<string, string> = {};
  for (const f of params.fields) row[columnOf(f.targetField)] = cell(getPath(record, f.sourceField));
  return row;
}

/** The import a record goes to, by its subscription field. */
function partOf(record: DataRecord, params: Params): Part {
  if (!params.subscriptionField) return 'unchanged';
  const v = cell(getPath(record, params.subscriptionField)).trim().toLowerCase();
  return SUBSCRIBED.has(v) ? 'subscribed' : UNSUBSCRIBED.has(v) ? 'unsubscribed' : 'unchanged';
}

/** An address with no chance at Eloqua: not `something@something` (Eloqua's own, stricter rule is not published). */
const NOT_AN_EMAIL = /^(?![^\s@]+@[^\s@]+$)/;

/**
 * Why the writer refuses a record before sending it, if it does: no identifier, or an email address that is not
 * one at all (what Eloqua alone refuses comes back from its sync, with its message).
 */
function refusal(record: DataRecord, params: Params): RecordError | undefined {
  const id = params.fields.find((f) => columnOf(f.targetField) === columnOf(params.identifierField));
  if (!id || cell(getPath(record, id.sourceField)).trim() === '') {
    return {
      code: 'IDX_ELOQUA_REJECTED',
      message: `the record has no ${id?.sourceField ?? params.identifierField}, which identifies contacts in Eloqua (${params.identifierField})`,
    };
  }
  const email = params.fields.find((f) => columnOf(f.targetField) === 'C_EmailAddress');
  const address = email ? cell(getPath(record, email.sourceField)).trim() : '';
  if (address !== '' && NOT_AN_EMAIL.test(address)) {
    return {
      code: 'IDX_ELOQUA_REJECTED',
      message: `${email?.sourceField} is not an email address: ${JSON.stringify(address.slice(0, 100))}`,
    };
  }
  return undefined;
}

/**
 * `datasource.write.eloqua`: creates and updates Eloqua contacts through the Bulk API 2.0 contact import: an
 * import definition per group of records, the rows uploaded in batches, one sync, its rejected rows to the error
 * path with Eloqua's message.
 */
export const datasourceWriteEloqua = defineScript({
  type: 'datasource.write.eloqua',
  summary:
    'Creates and updates Eloqua contacts with Bulk API 2.0 imports (definition, data upload, sync); rejected rows go to the error path with Eloqua’s message.',
  description:
    'Records are imported in groups of `batchSize`: for each, an import definition maps `fields` (record path → ' +
    'contact field) with `identifierFieldName` on `identifierField` (the Gigya UID field, so a contact whose email ' +
    'changes stays matched) and `updateRule`; its rows are uploaded in POSTs of at most `uploadSize` rows and ' +
    '31 MB (Eloqua refuses 32 MB) and synced once (`isSyncTriggeredOnImport` false), then the sync is polled ' +
    'until it ends. A record without the identifier or whose email address is not `name@domain` is rejected without being sent. Rows Eloqua rejects (its sync rejects, matched by `recordIndex`) go down the error path with ' +
    "Eloqua's status code and message (`_errorDetails.eloquaCode`, `message`); the others continue on the success " +
    'path. With `subscriptionField`, a group is imported as up to three definitions, by the value of that field, ' +
    'two of which set the global subscription with a `setStatus` sync action on `{{GlobalSubscribe}}` (Eloqua ' +
    'sets subscription status only through sync actions). A sync that ends in `error` fails the step ' +
    "(IDX_ELOQUA_SYNC) with Eloqua's log messages. The syncs of each group are recorded in the job's stage before " +
    'they are polled, so an invocation that is run again after a failure (a timeout while polling, a crash) resumes ' +
    'polling them instead of importing the rows again. Each group is settled in the invocation its records came in.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    ...ELOQUA_CONNECTION_PARAMS,
    fields: {
      ...ELOQUA_FIELDS_PARAM,
      description:
        'The columns imported: `sourceField` a record path, `targetField` a contact field by internal name (`C_EmailAddress`, `C_Gigya_UID1`).',
      examples: [[{ sourceField: 'C_Gigya_UID1', targetField: 'C_Gigya_UID1' }]],
    },
    identifierField: {
      type: 'string',
      default: 'C_Gigya_UID1',
      description:
        "The `targetField` contacts are matched on (the import's identifierFieldName): the Gigya UID field by default, as Gigya's Eloqua guide recommends.",
    },
    updateRule: {
      type: 'string',
      default: 'always',
      enum: ['always', 'ifNewIsNotNull', 'ifExistingIsNull', 'useFieldRule'],
      description:
        "Eloqua's rule for existing contacts' values: always overwrite, only with non-empty values, only empty fields, or the fields' own rules.",
    },
    subscriptionField: {
      type: 'string',
      description:
        "Record path of the subscription (true/false, 1/0, yes/no, subscribed/unsubscribed): sets the contact's global subscription. Other values leave it unchanged.",
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 100_000,
      default: 5000,
      description: 'Records per sync; they are held in memory until their sync ends (about 1 KB each).',
    },
    uploadSize: {
      type: 'integer',
      minimum: 1,
      maximum: 50_000,
      default: 5000,
      description: 'Rows per data POST (each POST also stays under 31 MB; at most 500 POSTs per sync).',
    },
  },
  check(params) {
    // Validation checks params as written: defaults are not applied yet.
    const identifierField = params.identifierField ?? 'C_Gigya_UID1';
    const batchSize = params.batchSize ?? 5000;
    const uploadSize = params.uploadSize ?? 5000;
    const problems = checkEloquaFields(params.fields, 'targetField');
    if (!params.fields.some((f) => columnOf(f.targetField) === columnOf(identifierField))) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: 'identifierField',
        message: 'identifierField is not one of the targetFields of fields',
        expected: params.fields.map((f) => f.targetField).join(', '),
        received: JSON.stringify(identifierField),
      });
    }
    if (Math.ceil(batchSize / uploadSize) > ELOQUA_MAX_POSTS_PER_SYNC) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: 'uploadSize',
        message: `batchSize / uploadSize needs more than Eloqua's ${ELOQUA_MAX_POSTS_PER_SYNC} data POSTs per sync`,
        expected: `uploadSize ≥ ${Math.ceil(batchSize / ELOQUA_MAX_POSTS_PER_SYNC)}`,
        received: String(uploadSize),
      });
    }
    return problems;
  },
  dryRun: {
    call(params, record) {
      const refused = refusal(record, params);
      if (refused) return refused;
      return { method: 'eloqua.contacts.import', params: { ...rowOf(record, params), _part: partOf(record, params) } };
    },
  },
  create(params, ctx) {
    const client = eloquaClientFor(params, ctx);
    return groupedRecords(
      params.batchSize,
      async (records, group, out): Promise<void> =>
        settle(out, records, await importGroup(client, params, ctx, records, group)),
    );
  },
});

type WriterParams = Parameters<(typeof datasourceWriteEloqua)['create']>[0];

/**
 * Imports one group of records and returns, per record, why Eloqua rejected it (or undefined when it was
 * accepted). A group whose syncs a failed earlier run of this invocation recorded is resumed, not imported again.
 */
async function importGroup(
  client: EloquaClient,
  params: WriterParams,
  ctx: ScriptContext,
  records: readonly DataRecord[],
  group: number,
): Promise<(RecordError | undefined)[]> {
  const outcomes: (RecordError | undefined)[] = records.map((r) => refusal(r, params));
  const parts = new Map<Part, number[]>();
  records.forEach((r, i) => {
    if (outcomes[i]) return;
    const part = partOf(r, params);
    const list = parts.get(part);
    if (list) list.push(i);
    else parts.set(part, [i]);
  });
  if (parts.size === 0) return outcomes;
  const key = groupMarkerKey(ctx, 'eloqua-syncs', group);
  const found = await readGroupMarker<GroupMarker>(ctx, key);
  if (found) {
    ctx.log.info(
      `resuming the Eloqua syncs of group ${group} (${found.syncs.map((s) => s.uri).join(', ')}): not importing again`,
    );
  }
  // Each sync is recorded as soon as it is started, so a failure after it never imports its rows again.
  let marker: GroupMarker = found ?? { syncs: [] };
  for (const [part, indices] of parts) {
    if (marker.syncs.some((s) => s.part === part)) continue;
    const uri = await client.createImport(definitionOf(params, ctx, group, part));
    await uploadRows(
      client,
      uri,
      params,
      indices.map((i) => records[i] as DataRecord),
    );
    const sync = await client.sync(uri);
    marker = { syncs: [...marker.syncs, { part, uri: sync.uri, rows: indices.length }] };
    await writeGroupMarker(ctx, key, marker);
  }
  for (const { part, uri } of marker.syncs) {
    const indices = parts.get(part) ?? [];
    const done = await syncToEnd(client, uri, params, ctx, 'import');
    if (done.status === 'warning') {
      for await (const page of client.rejects(uri)) {
        for (const reject of page) {
          const at = matchReject(reject, indices, records, params);
          if (at === undefined) continue;
          outcomes[at] = {
            code: 'IDX_ELOQUA_REJECTED',
            message: reject.message ?? 'rejected by Eloqua',
            ...(reject.statusCode ? { eloquaCode: reject.statusCode } : {}),
            ...(reject.invalidFields?.length ? { invalidFields: reject.invalidFields } : {}),
            syncUri: uri,
          };
        }
      }
    }
  }
  return outcomes;
}

/**
 * The record a reject is about: its `recordIndex` counts the sync's rows from 1 (checked against the row's
 * identifier, and tried from 0 when it does not match, since Oracle does not say which), else the row with the
 * reject's identifier value.
 */
function matchReject(
  reject: { recordIndex: number; fieldValues?: Readonly<Record<string, string>> },
  indices: readonly number[],
  records: readonly DataRecord[],
  params: WriterParams,
): number | undefined {
  const column = columnOf(params.identifierField);
  const source = params.fields.find((f) => columnOf(f.targetField) === column)?.sourceField ?? column;
  const idOf = (i: number) => cell(getPath(records[i] as DataRecord, source));
  const wanted = reject.fieldValues?.[column];
  for (const candidate of [indices[reject.recordIndex - 1], indices[reject.recordIndex]]) {
    if (candidate !== undefined && (wanted === undefined || idOf(candidate) === wanted)) return candidate;
  }
  return wanted === undefined ? undefined : indices.find((i) => idOf(i) === wanted);
}

/** The import definition of one part of a group. */
function definitionOf(params: WriterParams, ctx: ScriptContext, group: number, part: Part): Record<string, unknown> {
  const position = ` ${ctx.invocation ?? 0}.${group}.${part}`;
  return {
    name: `identity-sync ${ctx.job.dataflowId} ${ctx.job.id}`.slice(0, 100 - position.length) + position,
    fields: Object.fromEntries(params.fields.map((f) => [columnOf(f.targetField), statementOf(f.targetField)])),
    identifierFieldName: columnOf(params.identifierField),
    updateRule: params.updateRule,
    isSyncTriggeredOnImport: false,
    isUpdatingMultipleMatchedRecords: false,
    dataRetentionDuration: 'P1D',
    autoDeleteDuration: 'P1D',
    ...(part === 'unchanged'
      ? {}
      : { syncActions: [{ action: 'setStatus', destination: '{{GlobalSubscribe}}', status: part }] }),
  };
}

/** Uploads rows in POSTs of at most `uploadSize` rows and {@link MAX_POST_BYTES}. */
async function uploadRows(
  client: EloquaClient,
  uri: string,
  params: WriterParams,
  records: readonly DataRecord[],
): Promise<void> {
  let chunk: string[] = [];
  let bytes = 2;
  const send = async () => {
    if (!chunk.length) return;
    await client.upload(uri, `[${chunk.join(',')}]`);
    chunk = [];
    bytes = 2;
  };
  for (const record of records) {
    const row = JSON.stringify(rowOf(record, params));
    const size = Buffer.byteLength(row) + 1;
    if (chunk.length >= params.uploadSize || (chunk.length && bytes + size > MAX_POST_BYTES)) await send();
    chunk.push(row);
    bytes += size;
  }
  await send();
}
