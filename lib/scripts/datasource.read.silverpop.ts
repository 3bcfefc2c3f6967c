import { SftpFileSource } from '../connectors/sftp.ts';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import { csvRows } from './util/csv-rows.ts';
import { acousticClientFor, acousticSftp, silverpopParams } from './util/silverpop.ts';

/** Where a read stands between invocations. */
interface ReadState {
  readonly jobId: string;
  readonly filePath: string;
  /** The export job has completed. */
  readonly complete: boolean;
  /** Data rows of the file already handed on. */
  readonly rows: number;
  /** GetJobStatus calls made so far. */
  readonly polls: number;
}

/** An ISO instant as Acoustic's `MM/dd/yyyy HH:mm:ss` (UTC). */
export function acousticDate(iso: string): string {
  const d = new Date(iso);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
  );
}

/**
 * `datasource.read.silverpop`: exports the contacts of an Acoustic Campaign database (formerly IBM Silverpop) with
 * ExportList, waits for the job, and reads the exported CSV from Acoustic's SFTP as records.
 */
export const datasourceReadSilverpop = defineScript({
  type: 'datasource.read.silverpop',
  summary:
    'Reads the contacts of an Acoustic Campaign (Silverpop) database: ExportList of `columns`, job polling, the CSV fetched from its SFTP; deltas by last-modified date.',
  description:
    '`ExportList` (EXPORT_TYPE ALL, CSV) of `listId` with `columns` writes a file to Acoustic’s SFTP `/download` ' +
    'folder; `GetJobStatus` is polled until the job completes (ERROR fails the step with Acoustic’s description, ' +
    'IDX_ACOUSTIC_JOB_FAILED); each data row of the file becomes a record keyed by the column names. Deltas: when ' +
    'the job has a delta window, DATE_START and DATE_END (`MM/dd/yyyy HH:mm:ss`, sent in UTC; Acoustic documents ' +
    'no time zone, so the org should run in UTC or the window be widened by its offset) bound the contacts’ last ' +
    'modified date; the start is the previous run’s start, so a contact changed in that second is read twice, ' +
    'never missed. Continues past the invocation budget: the job id, whether it completed and the rows handed on ' +
    'are kept, and a later invocation polls on or reads on from there (reading the file again from its start and ' +
    'skipping the rows already handed on). The exported file is left in `/download` (Acoustic purges it).',
  consumes: 'nothing',
  produces: 'records',
  continues: true,
  params: {
    ...silverpopParams,
    columns: {
      type: 'string',
      required: true,
      description: 'The database columns exported, comma-separated (EXPORT_COLUMNS); they name the records’ fields.',
      examples: ['GigyaUid,EMAIL,Subscribed'],
    },
  },
  check(params) {
    if (params.columns.split(',').every((c) => c.trim() === ''))
      return [
        {
          code: 'IDX_PARAM_VALUE',
          path: 'columns',
          message: 'columns names no column',
          expected: 'comma-separated database columns, e.g. GigyaUid,EMAIL,Subscribed',
          received: JSON.stringify(params.columns),
        },
      ];
    return [];
  },
  create(params, ctx) {
    const connection = acousticSftp(params, ctx);
    const client = acousticClientFor(params, ctx);
    const columns = params.columns
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== '');
    const late = () => Date.now() >= ctx.deadline;
    return {
      async read(out) {
        let state = ctx.continuation as ReadState | undefined;
        if (!state) {
          const delta = ctx.job.fullExtract ? undefined : ctx.job.delta;
          const started = await client.exportList({
            listId: params.listId,
            columns,
            ...(delta?.from ? { dateStart: acousticDate(delta.from), dateEnd: acousticDate(delta.to) } : {}),
          });
          state = { ...started, complete: false, rows: 0, polls: 0 };
          if (late()) return { continuation: state };
        }
        if (!state.complete) {
          const status = await client.waitForJob(state.jobId, {
            pollMs: params.pollSeconds * 1000,
            deadline: ctx.deadline,
          });
          state = { ...state, complete: status.status === 'COMPLETE', polls: state.polls + 1 };
          out.progress?.({ pages: state.polls });
          if (!state.complete || late()) return { continuation: state };
        }
        const source = new SftpFileSource(connection, '/download');
        const name = state.filePath.replace(/^.*\//, '');
        const stream = await source.open({ name, path: `/download/${name}`, size: 0, modifiedAt: 0 }, 0);
        let header: readonly string[] | undefined;
        let handed = 0;
        try {
          for await (const row of csvRows(stream, name)) {
            if (!header) {
              header = row.cells;
              if (header.join(',') !== columns.join(','))
                throw new IdxError('IDX_ACOUSTIC_FAULT', `the export file ${name} has other columns than asked`, {
                  stepId: ctx.stepId,
                  param: 'columns',
                  expected: columns.join(','),
                  received: header.join(','),
                });
              continue;
            }
            if (handed++ < state.rows) continue;
            if (out.remaining <= 0) return undefined;
            if (row.problem)
              out.reject(
                { _raw: row.problem.raw },
                { code: row.problem.code, message: row.problem.message, line: row.line },
              );
            else {
              const record: DataRecord = {};
              header.forEach((c, i) => {
                record[c] = row.cells[i] ?? '';
              });
              out.emit(record);
            }
            await out.flush();
            // At least one row per invocation, so a tiny budget still moves on.
            if (late()) return { continuation: { ...state, rows: handed } };
          }
        } finally {
          // A read stopped early leaves requests in flight, which fail once the connection closes: nobody waits for them.
          stream.on('error', () => {});
          stream.destroy();
        }
        return undefined;
      },
      close: () => connection.close(),
    };
  },
});
