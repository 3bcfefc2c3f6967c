import { ELOQUA_MAX_PAGE } from '../connectors/eloqua.ts';
import { defineScript } from '../core/script.ts';
import {
  checkEloquaFields,
  columnOf,
  ELOQUA_CONNECTION_PARAMS,
  ELOQUA_FIELDS_PARAM,
  eloquaClientFor,
  statementOf,
  syncToEnd,
} from './util/eloqua-step.ts';
import { setPath } from './util/paths.ts';

/** Eloqua's longest export filter. */
const MAX_FILTER_LENGTH = 1000;

/** Where a reader is in its export sync's data, between invocations. */
interface ReaderState {
  readonly syncUri: string;
  readonly offset: number;
  readonly pages: number;
}

/** An instant as Eloqua's filters take it (`yyyy-MM-dd HH:mm:ss`, UTC with areSystemTimestampsInUTC), to the second. */
function filterTime(iso: string): string {
  return new Date(iso).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * `datasource.read.eloqua`: reads Eloqua contacts through a Bulk API 2.0 contact export, by default only those
 * modified within the job's delta window, page by page across invocations.
 */
export const datasourceReadEloqua = defineScript({
  type: 'datasource.read.eloqua',
  summary:
    'Reads Eloqua contacts with a Bulk API 2.0 export (definition, sync, paged data), by default only those modified since the last successful run.',
  description:
    'An export definition of `fields` (contact field or EML statement → record path) is created with the filter ' +
    "`'<deltaField>' >= '<from>' AND '<deltaField>' <= '<to>'` of the job's delta window (whole seconds, UTC with " +
    '`areSystemTimestampsInUTC`; the lower bound is inclusive, so a contact modified in the second the window starts ' +
    'is read again rather than missed), AND-ed with `filter`; fullExtract leaves the window out. The export is ' +
    "synced and polled until it ends, then its data is read from the sync's data endpoint in pages of `pageSize` " +
    '(Eloqua: at most 50,000); values are text and empty fields empty strings, as Eloqua gives them. Near the ' +
    "invocation's budget the reader returns the sync and the offset, and the next invocation reads on from there; " +
    'a sync that ends in `error` fails the step (IDX_ELOQUA_SYNC).',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    ...ELOQUA_CONNECTION_PARAMS,
    fields: {
      ...ELOQUA_FIELDS_PARAM,
      description:
        'The columns exported: `sourceField` a contact field by internal name (`C_EmailAddress`) or an EML statement (`{{Contact.Email.IsSubscribed}}`), `targetField` the record path it is put at.',
      examples: [[{ sourceField: 'C_EmailAddress', targetField: 'C_EmailAddress' }]],
    },
    filter: {
      type: 'string',
      verbatim: true,
      description:
        "An Eloqua export filter AND-ed with the delta window, e.g. `'{{Contact.Field(C_Country)}}' = 'DE'` (both sides in single quotes).",
    },
    deltaField: {
      type: 'string',
      default: 'C_DateModified',
      description:
        'The contact field or statement the delta window applies to (`C_DateModified`, `{{Contact.UpdatedAt}}`).',
    },
    fullExtract: {
      type: 'boolean',
      default: false,
      description:
        "Read every contact that matches `filter`, ignoring the delta window (as the schedule's fullExtract).",
    },
    pageSize: {
      type: 'integer',
      minimum: 1,
      maximum: ELOQUA_MAX_PAGE,
      default: 10_000,
      description: 'Rows per data page (Eloqua allows 1 to 50,000); a page is held in memory while it is handed on.',
    },
    maxRecords: {
      type: 'integer',
      minimum: 1,
      description: "At most this many contacts (the export's maxRecords), besides the job limit.",
    },
  },
  check(params) {
    const problems = checkEloquaFields(params.fields, 'sourceField');
    if ((params.filter ?? '').length > MAX_FILTER_LENGTH - 200) {
      problems.push({
        code: 'IDX_PARAM_VALUE',
        path: 'filter',
        message: `filter is too long: with the delta window it would pass Eloqua's ${MAX_FILTER_LENGTH} characters`,
        expected: `at most ${MAX_FILTER_LENGTH - 200} characters`,
        received: `${(params.filter ?? '').length} characters`,
      });
    }
    return problems;
  },
  async create(params, ctx) {
    const client = eloquaClientFor(params, ctx);
    const fullExtract = ctx.job.fullExtract || params.fullExtract;
    let state = ctx.continuation as ReaderState | undefined;
    return {
      async read(out) {
        if (!state) {
          const delta = statementOf(params.deltaField);
          const window =
            fullExtract || !ctx.job.delta
              ? []
              : [
                  ...(ctx.job.delta.from ? [`'${delta}' >= '${filterTime(ctx.job.delta.from)}'`] : []),
                  `'${delta}' <= '${filterTime(ctx.job.delta.to)}'`,
                ];
          const extra = params.filter?.trim();
          const filter = [...(extra ? [`(${extra})`] : []), ...window].join(' AND ');
          const exportUri = await client.createExport({
            name: `identity-sync ${ctx.job.dataflowId} ${ctx.job.id} ${ctx.stepId}`.slice(0, 100),
            fields: Object.fromEntries(params.fields.map((f) => [columnOf(f.sourceField), statementOf(f.sourceField)])),
            ...(filter ? { filter } : {}),
            areSystemTimestampsInUTC: true,
            ...(params.maxRecords ? { maxRecords: params.maxRecords } : {}),
            dataRetentionDuration: 'PT12H',
            autoDeleteDuration: 'P1D',
          });
          ctx.log.info(`Eloqua export ${exportUri}${filter ? ` with filter ${filter}` : ' of every contact'}`);
          const sync = await client.sync(exportUri);
          await syncToEnd(client, sync.uri, params, ctx, 'export');
          state = { syncUri: sync.uri, offset: 0, pages: 0 };
        }
        let { offset, pages } = state;
        const syncUri = state.syncUri;
        for (;;) {
          if (out.remaining <= 0) return {};
          const page = await client.data(syncUri, offset, Math.min(params.pageSize, out.remaining));
          pages++;
          out.progress?.({ pages, ...(page.totalResults === undefined ? {} : { total: page.totalResults }) });
          for (const item of page.items) {
            const record: Record<string, unknown> = {};
            for (const f of params.fields) setPath(record, f.targetField, item[columnOf(f.sourceField)] ?? '');
            out.emit(record);
          }
          await out.flush();
          offset += page.items.length;
          if (!page.hasMore || page.items.length === 0) return {};
          if (Date.now() >= ctx.deadline) return { continuation: { syncUri, offset, pages } satisfies ReaderState };
        }
      },
    };
  },
});
