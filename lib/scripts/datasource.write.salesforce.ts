import { csvLine } from '../connectors/csv-cells.ts';
import {
  SALESFORCE_API_VERSION,
  SALESFORCE_MAX_UPLOAD_BYTES,
  type SalesforceAuth,
  SalesforceClient,
} from '../connectors/salesforce.ts';
import { IdxError } from '../core/errors.ts';
import {
  type DataRecord,
  defineScript,
  type RecordError,
  type ScriptContext,
  type StepOutput,
} from '../core/script.ts';
import { getPath } from './util/paths.ts';
import {
  cellText,
  groupMarkerKey,
  isUnset,
  MAX_ATTEMPTS_PARAM,
  paramMissing,
  readGroupMarker,
  settle,
  writeGroupMarker,
} from './util/record-writer.ts';

/** The records of one group, as JSON: half of what one upload may hold (see `records`). */
const GROUP_BYTES = SALESFORCE_MAX_UPLOAD_BYTES / 2;

/** The standard objects IdentitySync's `objectType` names in lower case, by their API names. */
const STANDARD_OBJECTS: Readonly<Record<string, string>> = { account: 'Account', contact: 'Contact', lead: 'Lead' };

/** The login hosts every org shares; local mode sends them to the emulator (a My Domain host is left alone). */
const SHARED_LOGIN_HOSTS = new Set(['login.salesforce.com', 'test.salesforce.com']);

/** The job of one group of records, kept in the stage so a retried invocation resumes it instead of uploading again. */
interface GroupMarker {
  readonly jobId: string;
}

/**
 * `datasource.write.salesforce`: upserts records into a Salesforce object through Bulk API 2.0 ingest jobs keyed by
 * an External ID field; rows Salesforce fails go down the error path with its `sf__Error`.
 */
export const datasourceWriteSalesforce = defineScript({
  type: 'datasource.write.salesforce',
  summary:
    'Upserts records into a Salesforce object with Bulk API 2.0 ingest jobs keyed by an External ID field; failed rows go to the error path with Salesforce’s sf__Error.',
  description:
    'Records are written in groups of at most `batchSize` (and 100 MB of CSV, what one upload may hold): for each ' +
    'group, one ingest job (`operation` upsert, `externalIdFieldName` = `primaryId`) is created, its CSV uploaded ' +
    'once, closed (UploadComplete) and polled until it ends; then its `successfulResults` and `failedResults` are ' +
    "matched to the records by the rows' content. Accepted records continue on the success path; failed rows go " +
    "down the error path with Salesforce's `sf__Error` (`_errorDetails.salesforceCode`, `message`). The columns " +
    "are the records' top-level fields (fields starting with `_`, and fields no record of the job has a value for, left out), named by field API name; a value " +
    "that is empty or missing leaves the Salesforce field as it is, and `#N/A` clears it (Salesforce's CSV rule). " +
    'A record without a `primaryId` value (or `lookupId`, when set) is rejected without being sent. ' +
    'Login: with the published params (`username`, `password`, `token`, `authEndpoint`), SOAP `login()` on the ' +
    "`authEndpoint` URL, since those are the only credentials they give; Salesforce retires SOAP login in Summer '27 " +
    'and does not offer it from API version 65.0, so a version in `authEndpoint` that is not a number (the ' +
    `templates' \`xx.0\`) becomes ${SALESFORCE_API_VERSION}, and Bulk calls use v${SALESFORCE_API_VERSION}. With \`clientId\` and ` +
    '`clientSecret` (a connected app), OAuth 2.0 at `/services/oauth2/token` on the same host instead: the ' +
    "username-password grant when `username` is set, else client credentials (Salesforce's recommended replacement). " +
    'An expired session (401) is renewed once; 429, 5xx and 403 REQUEST_LIMIT_EXCEEDED are retried with backoff. A ' +
    "job that ends Failed or Aborted fails the step (IDX_SALESFORCE_JOB) with Salesforce's errorMessage. The job of " +
    "each group is recorded in the job's stage as soon as it exists, so an invocation run again after a failure " +
    'resumes it (an open job, whose upload may not have arrived, is aborted and the group sent once in a new job). ' +
    'Each group is settled in the invocation its records came in. In local mode the shared login hosts ' +
    '(login.salesforce.com, test.salesforce.com) are the embedded Salesforce emulator.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    username: { type: 'string', default: '', description: 'The Salesforce user (API Enabled).' },
    password: { type: 'string', secret: true, description: "The user's password, as ${secret:NAME}." },
    token: {
      type: 'string',
      secret: true,
      description:
        "The user's security token, as ${secret:NAME}; appended to the password. Leave it out where the org trusts the caller's IP range.",
    },
    authEndpoint: {
      type: 'string',
      default: `https://login.salesforce.com/services/Soap/u/${SALESFORCE_API_VERSION}`,
      description:
        'The SOAP login URL (`https://login.salesforce.com/services/Soap/u/<version>`; test.salesforce.com for a sandbox, or the My Domain host). Its host also serves the OAuth token endpoint.',
    },
    objectType: {
      type: 'string',
      required: true,
      description:
        'The sObject written: `account`, `contact`, `lead` (IdentitySync’s names) or any API name (`Gigya_Profile__c`).',
      examples: ['contact'],
    },
    primaryId: {
      type: 'string',
      required: true,
      description:
        'The External ID field of the object that identifies a record (the job’s externalIdFieldName), e.g. the field holding the Gigya UID. It is also the CSV column of that value.',
      examples: ['Gigya_UID__c'],
    },
    lookupId: {
      type: 'string',
      default: '',
      description:
        'The record path whose value fills `primaryId` when the records do not carry a `primaryId` field themselves (e.g. `UID`). Empty: the `primaryId` field.',
    },
    clientId: {
      type: 'string',
      default: '',
      description:
        'The consumer key of a connected app: with it, OAuth 2.0 is used instead of SOAP login (username-password grant, or client credentials without `username`).',
    },
    clientSecret: {
      type: 'string',
      secret: true,
      description: 'The connected app’s consumer secret, as ${secret:NAME}.',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 150_000,
      default: 10_000,
      description:
        'Records per ingest job; they are held in memory until their job ends (about 1 KB each). Salesforce processes a job in internal batches of 10,000.',
    },
    maxAttempts: MAX_ATTEMPTS_PARAM,
    jobTimeoutMinutes: {
      type: 'integer',
      minimum: 1,
      maximum: 720,
      default: 60,
      description: 'How long a job may stay in progress before the step fails (IDX_SALESFORCE_JOB, retried, resumed).',
    },
  },
  check(params) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(params.primaryId) && !isUnset(params.primaryId)) {
      return [
        {
          code: 'IDX_PARAM_VALUE',
          path: 'primaryId',
          message: 'primaryId is not a Salesforce field API name',
          expected: 'a field API name such as Gigya_UID__c',
          received: JSON.stringify(params.primaryId),
        },
      ];
    }
    return [];
  },
  dryRun: {
    call(params, record) {
      const refused = refusal(record, params);
      if (refused) return refused;
      return {
        method: 'salesforce.jobs.ingest.upsert',
        params: {
          object: objectName(params.objectType),
          externalIdFieldName: params.primaryId,
          ...rowOf(record, params),
        },
      };
    },
  },
  create(params, ctx) {
    const client = salesforceClientFor(params, ctx);
    let pending: DataRecord[] = [];
    let pendingBytes = 0;
    let group = 0;
    /** Writes the records held as one group, with one ingest job. */
    const flush = async (out: StepOutput) => {
      if (!pending.length) return;
      const records = pending;
      pending = [];
      pendingBytes = 0;
      settle(out, records, await writeGroup(client, params, ctx, records, group++));
    };
    return {
      async records(batch, out) {
        for (const record of batch) {
          // The record's JSON bounds its CSV row to within twice its size (quotes doubled at worst), so a group
          // under half of what one upload may hold fits one upload.
          const size = Buffer.byteLength(JSON.stringify(record));
          if (pending.length >= params.batchSize || (pending.length && pendingBytes + size > GROUP_BYTES))
            await flush(out);
          pending.push(record);
          pendingBytes += size;
        }
      },
      // Every group is settled in the invocation its records came in: records cannot wait in a continuation.
      async end(out) {
        await flush(out);
      },
    };
  },
});

/** The params the functions below read. */
interface Params {
  readonly username: string;
  readonly password?: string;
  readonly token?: string;
  readonly authEndpoint: string;
  readonly objectType: string;
  readonly primaryId: string;
  readonly lookupId: string;
  readonly clientId: string;
  readonly clientSecret?: string;
  readonly maxAttempts: number;
  readonly jobTimeoutMinutes: number;
}

/** The API name of the object: IdentitySync's lower-case standard names mapped, others as given. */
function objectName(objectType: string): string {
  return STANDARD_OBJECTS[objectType.trim().toLowerCase()] ?? objectType.trim();
}

/** Where the external id's value is read from: `lookupId` when set (an elided `...` is not), else `primaryId`. */
function sourceOf(params: Params): string {
  return isUnset(params.lookupId) ? params.primaryId : params.lookupId.trim();
}

/** The value of the external id of a record. */
function externalIdOf(record: DataRecord, params: Params): string {
  const source = sourceOf(params);
  return (cellText(getPath(record, source)) ?? '').trim();
}

/** The row of a record: its top-level fields (not `_`-prefixed, not `lookupId`), with the external id column filled. */
function rowOf(record: DataRecord, params: Params): Record<string, string> {
  const row: Record<string, string> = {};
  const source = sourceOf(params);
  // The lookupId field only feeds primaryId: Salesforce has no field of that name.
  for (const [k, v] of Object.entries(record)) {
    if (k.startsWith('_') || k === source) continue;
    // No value (null, an empty object) makes no column of its own: other rows of the job may still have one.
    const text = cellText(v);
    if (text !== undefined) row[k] = text;
  }
  row[params.primaryId] = externalIdOf(record, params);
  return row;
}

/** Why the writer refuses a record before sending it: no external id value. */
function refusal(record: DataRecord, params: Params): RecordError | undefined {
  if (externalIdOf(record, params) !== '') return undefined;
  return {
    code: 'IDX_SALESFORCE_REJECTED',
    message: `the record has no ${sourceOf(params)}, the value of the External ID field ${params.primaryId} that identifies records in Salesforce`,
  };
}

/**
 * The client of a step. In local mode the shared login hosts are the emulator's origin (the path is kept); a
 * version in the login URL that is not a number (`xx.0`) becomes the one this project uses.
 */
export function salesforceClientFor(params: Params, ctx: ScriptContext): SalesforceClient {
  const missing = (param: string, expected: string) => paramMissing(ctx.stepId, param, expected);
  let endpoint: URL;
  try {
    endpoint = new URL(params.authEndpoint.trim());
  } catch {
    throw new IdxError('IDX_PARAM_VALUE', 'authEndpoint is not a URL', {
      stepId: ctx.stepId,
      param: 'authEndpoint',
      expected: 'https://login.salesforce.com/services/Soap/u/<version>',
      received: JSON.stringify(params.authEndpoint),
    });
  }
  const emulator = ctx.services.config.local ? ctx.services.config.endpoints.salesforce : undefined;
  const origin = emulator && SHARED_LOGIN_HOSTS.has(endpoint.hostname) ? emulator : endpoint.origin;
  const path = endpoint.pathname.replace(/\/Soap\/u\/[^/]*/, (m) =>
    /\/Soap\/u\/\d+\.\d$/.test(m) ? m : `/Soap/u/${SALESFORCE_API_VERSION}`,
  );
  const username = isUnset(params.username) ? '' : params.username.trim();
  // No token (an org that trusts the caller's IP range) is an empty one, as is a template's elided `....`.
  const securityToken = isUnset(params.token) ? '' : (params.token ?? '');
  let auth: SalesforceAuth;
  if (!isUnset(params.clientId)) {
    if (!params.clientSecret) throw missing('clientSecret', 'the connected app’s consumer secret, as ${secret:NAME}');
    auth = {
      kind: 'oauth2',
      tokenUrl: `${origin}/services/oauth2/token`,
      clientId: params.clientId.trim(),
      clientSecret: params.clientSecret,
      ...(username ? { username, password: params.password ?? '', securityToken } : {}),
    };
  } else {
    if (!username) throw missing('username', 'the Salesforce user');
    if (!params.password) throw missing('password', "the user's password, as ${secret:NAME}");
    auth = {
      kind: 'soap',
      loginUrl: `${origin}${path}`,
      username,
      password: params.password,
      securityToken,
    };
  }
  return new SalesforceClient({ auth, log: ctx.log, attempts: params.maxAttempts, signal: ctx.signal });
}

/**
 * Writes one group with one ingest job and returns, per record, why Salesforce failed it (undefined: accepted).
 * A group whose job an earlier run of this invocation recorded is resumed rather than sent again.
 */
async function writeGroup(
  client: SalesforceClient,
  params: Params,
  ctx: ScriptContext,
  records: readonly DataRecord[],
  group: number,
): Promise<(RecordError | undefined)[]> {
  const outcomes: (RecordError | undefined)[] = records.map((r) => refusal(r, params));
  const sent = records.flatMap((_r, i) => (outcomes[i] ? [] : [i]));
  if (sent.length === 0) return outcomes;
  const rows = sent.map((i) => rowOf(records[i] as DataRecord, params));
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const lines = rows.map((r) => csvLine(columns.map((c) => r[c] ?? '')));
  const key = groupMarkerKey(ctx, 'salesforce-jobs', group);
  const marker = await readGroupMarker<GroupMarker>(ctx, key);
  let jobId = marker?.jobId;
  if (jobId) {
    const job = await client.getJob(jobId);
    if (job.state === 'Open') {
      // The upload may not have arrived: nothing of the job was processed, so it is aborted and sent again.
      ctx.log.info(`Salesforce job ${jobId} of group ${group} was still open: aborting it and sending the group again`);
      await client.abort(jobId);
      jobId = undefined;
    } else ctx.log.info(`resuming Salesforce job ${jobId} of group ${group}: not uploading again`);
  }
  if (!jobId) {
    const job = await client.createUpsertJob(objectName(params.objectType), params.primaryId);
    jobId = job.id;
    await writeGroupMarker(ctx, key, { jobId });
    await client.upload(jobId, `${csvLine(columns)}\n${lines.join('\n')}\n`);
    await client.close(jobId);
  }
  const done = await client.waitForJob(jobId, {
    firstPollMs: 200,
    maxPollMs: 10_000,
    timeoutMs: params.jobTimeoutMinutes * 60_000,
  });
  if (done.state !== 'JobComplete') {
    throw new IdxError(
      'IDX_SALESFORCE_JOB',
      `Salesforce's ingest job ${jobId} ended ${done.state}: ${done.errorMessage ?? 'no message'}`,
      {
        stepId: ctx.stepId,
        expected: 'a job that ends JobComplete',
        received: `state ${done.state}${done.errorMessage ? `: ${done.errorMessage}` : ''}`,
        details: { jobId, state: done.state, ...(done.errorMessage ? { errorMessage: done.errorMessage } : {}) },
      },
    );
  }
  // Results come in no particular order: a row is matched to its record by its cells, in the job's column order.
  const byLine = new Map<string, number[]>();
  lines.forEach((line, n) => {
    const at = sent[n] as number;
    byLine.set(line, [...(byLine.get(line) ?? []), at]);
  });
  const take = (row: Record<string, string>) => {
    const queue = byLine.get(csvLine(columns.map((c) => row[c] ?? '')));
    return queue?.shift();
  };
  const settled = new Set<number>();
  for (const row of await client.results(jobId, 'successfulResults')) {
    const at = take(row);
    if (at !== undefined) settled.add(at);
  }
  for (const row of await client.results(jobId, 'failedResults')) {
    const at = take(row);
    if (at === undefined) continue;
    const error = row.sf__Error ?? '';
    const code = /^([A-Z_]+):/.exec(error)?.[1];
    outcomes[at] = {
      code: 'IDX_SALESFORCE_REJECTED',
      message: error || 'failed by Salesforce',
      ...(code ? { salesforceCode: code } : {}),
      jobId,
    };
    settled.add(at);
  }
  for (const at of sent) {
    if (!settled.has(at)) {
      outcomes[at] = {
        code: 'IDX_SALESFORCE_REJECTED',
        message: `Salesforce's job ${jobId} reported no result for this row`,
        jobId,
      };
    }
  }
  return outcomes;
}
