import { Readable } from 'node:stream';
import { MARKETO_MAX_IMPORT_BYTES, MarketoClient } from '../connectors/marketo.ts';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript, type RecordError, type ScriptContext } from '../core/script.ts';
import { csvLine, csvRows } from './util/csv-rows.ts';
import { UNSET } from './util/elided.ts';

/** Leaves room below Marketo's 10 MB per import file for the header. */
const MAX_FILE_BYTES = MARKETO_MAX_IMPORT_BYTES - 256 * 1024;

/**
 * A record's value as a CSV cell: text; objects and arrays as JSON; none for a missing or null value or an empty
 * object (what a rename leaves of a parent whose fields it moved out).
 */
function cellOf(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return undefined;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A record's lead: its top-level fields (not `_`-prefixed) with a value. */
function leadOf(record: DataRecord): Record<string, string> {
  const lead: Record<string, string> = {};
  for (const [k, v] of Object.entries(record)) {
    if (k.startsWith('_')) continue;
    const cell = cellOf(v);
    if (cell !== undefined) lead[k] = cell;
  }
  return lead;
}

/**
 * `datasource.write.marketo`: creates and updates Marketo leads through the Bulk Lead Import API; the rows Marketo
 * refused go down the error path with its reason.
 */
export const datasourceWriteMarketo = defineScript({
  type: 'datasource.write.marketo',
  summary:
    'Creates and updates Marketo leads with the Bulk Lead Import API (client-credentials OAuth, batch status, failures file); refused rows go to the error path with Marketo’s reason.',
  description:
    'Each record becomes a lead: its top-level fields (REST API field names, e.g. `email`, `firstName`, a custom ' +
    '`gUID`; objects and arrays as JSON; missing and null values and empty objects left out) as CSV columns. Records ' +
    'are sent in import files of at most `batchSize` rows and 10 MB to `POST <baseUrl>/bulk/v1/leads.json` ' +
    '(insert or update on `lookupField`), then the batch is polled until Complete; Failed fails the step with ' +
    'Marketo’s message (IDX_MARKETO_JOB_FAILED). The rows of the batch’s failures file go down the error path ' +
    'with Marketo’s reason (IDX_MARKETO_REJECTED); warnings are logged. A record without a `lookupField` value is ' +
    'rejected without being sent. Each batch of records the engine hands over is imported and finished before the ' +
    'next, so an invocation stops between imports; an invocation run again after a failure imports its records ' +
    'again, which insert-or-update makes harmless. Auth: `<baseUrl>/identity/oauth/token` with the LaunchPoint ' +
    'service’s client credentials, the token in the Authorization header (Marketo is removing the access_token ' +
    'query param), renewed once on 601/602. 5xx and Marketo’s transient codes (604, 606 waited out for ' +
    '`rateLimitWaitSeconds`, 608, 611, 615, 713, 1016) are retried with backoff. In local mode an empty or elided ' +
    '`baseUrl` means the embedded Marketo emulator.',
  consumes: 'records',
  produces: 'records',
  delivers: 'records',
  params: {
    baseUrl: {
      type: 'string',
      default: '',
      description:
        'The REST endpoint of the subscription without `/rest` (Admin › Web Services), `https://<munchkin id>.mktorest.com`. Empty only in local mode: the embedded emulator.',
      examples: ['https://123-ABC-456.mktorest.com'],
    },
    clientId: { type: 'string', default: '', description: 'The client id of the LaunchPoint custom service.' },
    clientSecret: { type: 'string', secret: true, description: 'Its client secret, as ${secret:NAME}.' },
    lookupField: {
      type: 'string',
      default: 'email',
      description:
        'The field leads are matched on (insert or update); `id` makes the import update-only. Marketo’s default is email.',
    },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 1_000_000,
      default: 50_000,
      description: 'Rows per import file at most (every file also stays under Marketo’s 10 MB).',
    },
    pollSeconds: {
      type: 'number',
      minimum: 0,
      maximum: 300,
      default: 5,
      description: 'First wait between batch status polls; it doubles up to 30 s (Marketo advises 5–30 s).',
    },
    rateLimitWaitSeconds: {
      type: 'number',
      minimum: 0,
      maximum: 120,
      default: 20,
      description: 'Wait after Marketo’s 606 (rate limit: 100 calls per 20 s) before the call is sent again.',
    },
    maxAttempts: {
      type: 'integer',
      minimum: 1,
      maximum: 10,
      default: 5,
      description: 'Attempts of one call answered 5xx or a transient code, or cut off, with exponential backoff.',
    },
  },
  dryRun: {
    call(params, record) {
      const lead = leadOf(record);
      if (!lead[params.lookupField]) return noLookup(params.lookupField);
      return { method: 'marketo.bulk.leads.import', params: { lookupField: params.lookupField, lead } };
    },
  },
  create(params, ctx) {
    const client = marketoClientFor(params, ctx);
    return {
      async records(batch, out) {
        let held: { record: DataRecord; lead: Record<string, string> }[] = [];
        let bytes = 0;
        const send = async () => {
          if (!held.length) return;
          const outcomes = await importLeads(
            client,
            held.map((h) => h.lead),
            params,
          );
          let delivered = 0;
          held.forEach((h, i) => {
            const failure = outcomes[i];
            if (failure) out.reject(h.record, failure);
            else {
              delivered++;
              out.emit(h.record);
            }
          });
          out.deliveredRecords(delivered);
          held = [];
          bytes = 0;
        };
        for (const record of batch) {
          const lead = leadOf(record);
          if (!lead[params.lookupField]) {
            out.reject(record, noLookup(params.lookupField));
            continue;
          }
          const size = Buffer.byteLength(JSON.stringify(lead));
          if (held.length >= params.batchSize || (held.length && bytes + size > MAX_FILE_BYTES)) await send();
          held.push({ record, lead });
          bytes += size;
        }
        await send();
      },
    };
  },
});

type Params = Parameters<(typeof datasourceWriteMarketo)['create']>[0];

function noLookup(field: string): RecordError {
  return { code: 'IDX_MARKETO_REJECTED', message: `the record has no ${field}, the lookup field of the import` };
}

/** Imports leads as one file and returns, per lead, why Marketo refused it (undefined: imported). */
async function importLeads(
  client: MarketoClient,
  leads: readonly Record<string, string>[],
  params: Params,
): Promise<(RecordError | undefined)[]> {
  const header = [...new Set(leads.flatMap((l) => Object.keys(l)))];
  const lines = leads.map((l) => csvLine(header.map((h) => l[h] ?? '')));
  const queued = await client.importLeads(`${[csvLine(header), ...lines].join('\n')}\n`, params.lookupField);
  const done = await client.waitForBatch(queued.batchId, params.pollSeconds * 1000);
  const outcomes: (RecordError | undefined)[] = leads.map(() => undefined);
  if (!done.numOfRowsFailed) return outcomes;
  // The failures file holds the refused rows as sent, with the reason appended: match them back by their text.
  const reasons = new Map<string, string[]>();
  const text = await client.batchFile(queued.batchId, 'failures');
  for await (const row of csvRows(Readable.from([Buffer.from(text)]), 'failures.json')) {
    if (row.line === 1 || row.cells.length < 2) continue;
    const key = csvLine(row.cells.slice(0, -1));
    reasons.set(key, [...(reasons.get(key) ?? []), row.cells[row.cells.length - 1] ?? '']);
  }
  lines.forEach((line, i) => {
    const reason = reasons.get(line)?.shift();
    if (reason !== undefined) outcomes[i] = { code: 'IDX_MARKETO_REJECTED', message: reason || 'refused by Marketo' };
  });
  return outcomes;
}

/** The client of a step. An empty `baseUrl` in local mode is the emulator; anywhere else it is an error. */
function marketoClientFor(params: Params, ctx: ScriptContext): MarketoClient {
  const config = ctx.services.config;
  const local = config.local && UNSET.test(params.baseUrl) ? config.endpoints.marketo : undefined;
  const missing = (param: string, expected: string) =>
    new IdxError('IDX_PARAM_MISSING', `${param} is not set`, { stepId: ctx.stepId, param, expected, received: '""' });
  if (UNSET.test(params.baseUrl) && !local)
    throw missing('baseUrl', 'the REST endpoint of the subscription, https://<munchkin id>.mktorest.com');
  if (UNSET.test(params.clientId)) throw missing('clientId', 'the client id of the LaunchPoint custom service');
  if (!params.clientSecret) throw missing('clientSecret', 'the client secret, as ${secret:NAME}');
  return new MarketoClient({
    baseUrl: (local ?? params.baseUrl.trim()).replace(/\/rest\/?$/, ''),
    clientId: params.clientId.trim(),
    clientSecret: params.clientSecret,
    attempts: params.maxAttempts,
    rateLimitWaitMs: params.rateLimitWaitSeconds * 1000,
    log: ctx.log,
    signal: ctx.signal,
  });
}
