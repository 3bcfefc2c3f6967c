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

/** `datasource.read.gigya.audit`: reads the site's audit log with `audit.search` (cursor paging). */
export const datasourceReadGigyaAudit = defineScript({
  type: 'datasource.read.gigya.audit',
  summary:
    'Reads the audit log with audit.search (e.g. deleted accounts to propagate), by default within the delta window.',
  description:
    'The query is `SELECT <select> FROM auditLog WHERE (<where>) AND @timestamp > "<from>" AND @timestamp <= "<to>" ' +
    "ORDER BY @timestamp` with the job's delta window as ISO-8601 times (left out on a full extract). A typical " +
    'where is `endpoint = "accounts.deleteAccount" AND errCode = 0`. Continues past the invocation\'s time budget.',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    select: {
      type: 'string',
      default: '*',
      description: 'Comma list of audit fields (`uid`, `endpoint`, `@timestamp`, `callID`, `errCode`, …) or `*`.',
    },
    where: {
      type: 'string',
      verbatim: true,
      timeFormat: 'iso',
      description: 'Filter in the search language; `${now-1d}` renders as an ISO-8601 time.',
      examples: ['endpoint = "accounts.deleteAccount" AND errCode = 0'],
    },
    deltaField: {
      type: 'string',
      default: '@timestamp',
      description: 'The ISO timestamp the delta window applies to; results are ordered by it.',
    },
    limit: { type: 'integer', minimum: 1, description: 'At most this many entries (besides the job limit).' },
    batchSize: GIGYA_PAGE_SIZE_PARAM,
    partitions: GIGYA_PARTITIONS_PARAM,
    ...GIGYA_CONNECTION_PARAMS,
  },
  reaches: GIGYA_REACHES,
  partitioned: searchPartitioned,
  check(params) {
    return checkWherePlaceholders(params.where);
  },
  async create(params, ctx) {
    // [verify] how audit.search compares @timestamp; the window is sent as ISO strings in double quotes.
    return createSearchReader(params, ctx, {
      method: 'audit.search',
      select: params.select,
      from: 'auditLog',
      where: renderWhere(params.where, ctx, 'iso'),
      deltaField: params.deltaField,
      deltaFormat: 'iso',
      orderBy: params.deltaField,
    });
  },
});
