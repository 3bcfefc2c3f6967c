import { Readable } from 'node:stream';
import { SftpFileSource } from '../connectors/sftp.ts';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript } from '../core/script.ts';
import { CSV_SYNTAX, csvRows } from './util/csv-rows.ts';
import { acousticClientFor, acousticSftp, silverpopParams } from './util/silverpop.ts';
import { dsvChunks } from './util/split.ts';

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
  /**
   * Where the next invocation reads on: the start of the piece of the file (split.ts cuts it on row boundaries,
   * about 1 MiB each) that holds the next row, and how many of that piece's rows were handed on. Without it (a
   * state written before pieces were kept), the file is read from its start and `rows` rows are skipped.
   */
  readonly at?: ReadAt;
}

/** A place in the exported file: a row boundary, the line it starts on, and rows after it already handed on. */
interface ReadAt {
  readonly offset: number;
  readonly line: number;
  readonly skip: number;
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
    'never missed. Continues past the invocation budget: the job id, whether it completed and where the reading ' +
    'stands are kept, and a later invocation polls on or reads on from there (from the start of the piece of about ' +
    '1 MiB, cut on a row boundary, that holds the next row, skipping that piece’s rows already handed on; a file ' +
    'whose quotes cannot be followed from the bytes is read on from where that began). The exported file is left ' +
    'in `/download` (Acoustic purges it).',
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
        const from = state.at;
        const stream = await source.open(
          { name, path: `/download/${name}`, size: 0, modifiedAt: 0 },
          from?.offset ?? 0,
        );
        // The header is checked once, at the file's start; a later invocation starts on a row boundary after it.
        let header: Buffer | undefined;
        const checkHeader = async (bytes: Buffer): Promise<void> => {
          for await (const row of csvRows(Readable.from([bytes]), name)) {
            if (row.cells.join(',') === columns.join(',')) return;
            throw new IdxError('IDX_ACOUSTIC_FAULT', `the export file ${name} has other columns than asked`, {
              stepId: ctx.stepId,
              param: 'columns',
              expected: columns.join(','),
              received: row.cells.join(','),
            });
          }
        };
        let offset = from?.offset ?? 0;
        let skip = from ? from.skip : state.rows;
        let handed = state.rows;
        try {
          for await (const item of dsvChunks(stream, { ...CSV_SYNTAX, header: from === undefined }, (bytes) => {
            header = bytes;
          })) {
            if (header) {
              await checkHeader(header);
              offset += header.length;
              header = undefined;
            }
            // A piece of whole rows, or the rest of a file whose quotes could not be followed from the bytes.
            const at = offset;
            const line = item.kind === 'chunk' ? item.chunk.firstLine : item.rest.firstLine;
            const data = item.kind === 'chunk' ? Readable.from([item.chunk.data]) : item.rest.data;
            if (item.kind === 'chunk') offset += item.chunk.data.length;
            let inPiece = 0;
            for await (const row of csvRows(data, name, line)) {
              inPiece++;
              if (skip > 0) {
                skip--;
                continue;
              }
              if (out.remaining <= 0) return undefined;
              if (row.problem)
                out.reject(
                  { _raw: row.problem.raw },
                  { code: row.problem.code, message: row.problem.message, line: row.line },
                );
              else {
                const record: DataRecord = {};
                columns.forEach((c, i) => {
                  record[c] = row.cells[i] ?? '';
                });
                out.emit(record);
              }
              handed++;
              await out.flush();
              // At least one row per invocation, so a tiny budget still moves on.
              if (late()) return { continuation: { ...state, rows: handed, at: { offset: at, line, skip: inPiece } } };
            }
          }
          // A file of its header alone comes as no piece.
          if (header) await checkHeader(header);
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
