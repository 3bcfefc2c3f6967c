import { defineScript } from '../core/script.ts';
import { checkWherePlaceholders } from './datasource.read.gigya.account.ts';
import { GIGYA_PARTITIONS_PARAM } from './util/gigya-partitions.ts';
import {
  createSearchReader,
  GIGYA_CONNECTION_PARAMS,
  GIGYA_PAGE_SIZE_PARAM,
  GIGYA_REACHES,
  renderWhere,
  searchPartitioned,
} from './util/gigya-step.ts';

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
    batchSize: GIGYA_PAGE_SIZE_PARAM,
    partitions: GIGYA_PARTITIONS_PARAM,
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  partitioned: (params) => (params.deltaField ? searchPartitioned(params) : undefined),
  check(params) {
    const problems = checkWherePlaceholders(params.where);
    if ((params.partitions ?? 1) > 1 && !params.deltaField) {
      problems.push({
        code: 'IDX_GIGYA_PARTITION_FIELD',
        path: 'partitions',
        message: 'partitions are ranges of deltaField, and this step has none',
        expected: 'a deltaField (e.g. lastUpdated), or partitions left out',
        received: `partitions ${params.partitions}`,
      });
    }
    return problems;
  },
  async create(params, ctx) {
    return createSearchReader(params, ctx, {
      method: 'ds.search',
      select: params.select,
      from: params.from,
      where: renderWhere(params.where, ctx, 'epochMillis'),
      ...(params.deltaField ? { deltaField: params.deltaField, orderBy: params.deltaField } : {}),
      deltaFormat: 'epochMillis',
    });
  },
});
