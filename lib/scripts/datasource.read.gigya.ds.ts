import { GIGYA_CONNECTION_PARAMS, gigyaClientFor, normalizeSelect, readWithCursor } from '../connectors/gigya-step.ts';
import { renderPlaceholders } from '../dataflow/placeholders.ts';
import { checkWherePlaceholders } from './datasource.read.gigya.account.ts';
import { defineScript } from './types.ts';

/** `datasource.read.gigya.ds`: reads Data Store objects of one type with `ds.search` (cursor paging). */
export const datasourceReadGigyaDs = defineScript({
  type: 'datasource.read.gigya.ds',
  summary: 'Reads Data Store objects of one type with ds.search (cursor paging).',
  description:
    'Each record is a Data Store object as ds.search returns it: `oid`, `UID` (when the object belongs to an ' +
    'account), `data`, and the `created` / `lastUpdated` timestamps (ms). With `deltaField` (e.g. `lastUpdated`) ' +
    "only objects changed within the job's delta window are read, unless the run is a full extract. Continues " +
    "past the invocation's time budget like the account reader.",
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    from: {
      type: 'string',
      required: true,
      description: 'The Data Store type (collection) to read.',
      examples: ['purchases'],
    },
    select: {
      type: 'string',
      default: '*',
      description: 'Comma list of fields (`data.x`, `oid`, `UID`), or `*`.',
    },
    where: {
      type: 'string',
      verbatim: true,
      timeFormat: 'epochMillis',
      description: 'Filter in the search language, e.g. `data.status = "open"`; `${now-1d}` renders as epoch ms.',
    },
    deltaField: {
      type: 'string',
      description:
        "A timestamp field (epoch ms) the job's delta window applies to, e.g. `lastUpdated`; none: read all.",
      examples: ['lastUpdated'],
    },
    limit: { type: 'integer', minimum: 1, description: 'At most this many objects (besides the job limit).' },
    batchSize: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      default: 1000,
      description: 'Page size (the cursor LIMIT), at most 1000.',
    },
    ...GIGYA_CONNECTION_PARAMS,
  },
  check(params) {
    return checkWherePlaceholders(params.where);
  },
  async create(params, ctx) {
    const where = renderPlaceholders(
      (params.where ?? '').trim(),
      { now: new Date(ctx.job.startTime), jobId: ctx.job.id, dataflowId: ctx.job.dataflowId },
      'epochMillis',
    );
    const conditions: string[] = where ? [`(${where})`] : [];
    if (params.deltaField && !ctx.job.fullExtract && ctx.job.delta) {
      if (ctx.job.delta.from !== undefined) conditions.push(`${params.deltaField} > ${Date.parse(ctx.job.delta.from)}`);
      conditions.push(`${params.deltaField} <= ${Date.parse(ctx.job.delta.to)}`);
    }
    const pageSize = Math.max(
      1,
      Math.min(params.batchSize, params.limit ?? params.batchSize, ctx.job.limit ?? params.batchSize),
    );
    const query =
      `SELECT ${normalizeSelect(params.select) || '*'} FROM ${params.from}` +
      (conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '') +
      (params.deltaField ? ` ORDER BY ${params.deltaField}` : '') +
      ` LIMIT ${pageSize}`;
    const { client, close } = await gigyaClientFor(params, ctx, { maxConcurrency: 1 });
    return {
      read: (out) =>
        readWithCursor({
          client,
          method: 'ds.search',
          query,
          ctx,
          out,
          ...(params.limit === undefined ? {} : { limit: params.limit }),
        }),
      close,
    };
  },
});
