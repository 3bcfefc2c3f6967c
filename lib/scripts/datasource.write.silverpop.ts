import { Readable } from 'node:stream';
import { xmlText } from '../connectors/acoustic.ts';
import { SftpFileSource, SftpFileTarget } from '../connectors/sftp.ts';
import { IdxError } from '../core/errors.ts';
import { type DataRecord, defineScript, type InputFile } from '../core/script.ts';
import { type CsvRow, csvRows } from './util/csv-rows.ts';
import { acousticClientFor, acousticSftp, silverpopParams } from './util/silverpop.ts';

/** Acoustic's upload and download folders on its SFTP. */
const UPLOAD = '/upload';
const DOWNLOAD = '/download';

/** The comma-separated names of a param, trimmed, empty ones left out. */
function names(list: string): string[] {
  return list
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
}

/** The map file of an import: every header column of the data file, in order, into the database's columns. */
export function importMap(
  listId: string,
  header: readonly string[],
  action: string,
  syncFields: readonly string[],
): string {
  const sync = syncFields.length
    ? `<SYNC_FIELDS>${syncFields.map((f) => `<SYNC_FIELD><NAME>${xmlText(f)}</NAME></SYNC_FIELD>`).join('')}</SYNC_FIELDS>`
    : '';
  const columns = header
    .map((h, i) => `<COLUMN><INDEX>${i + 1}</INDEX><NAME>${xmlText(h)}</NAME><INCLUDE>true</INCLUDE></COLUMN>`)
    .join('');
  return (
    `<LIST_IMPORT><LIST_INFO><ACTION>${action}</ACTION><LIST_TYPE>DATABASE</LIST_TYPE><LIST_ID>${xmlText(listId)}</LIST_ID>` +
    `<FILE_TYPE>0</FILE_TYPE><HASHEADERS>true</HASHEADERS></LIST_INFO>${sync}<MAPPING>${columns}</MAPPING></LIST_IMPORT>`
  );
}

/** The first row of a CSV file (its header); the stream is closed after it. */
async function headerOf(file: InputFile): Promise<CsvRow | undefined> {
  const stream = file.open();
  try {
    for await (const row of csvRows(stream, file.name)) return row;
    return undefined;
  } finally {
    stream.destroy();
  }
}

/**
 * `datasource.write.silverpop`: imports CSV files into an Acoustic Campaign database (formerly IBM Silverpop):
 * each file and its map file go to Acoustic's SFTP, then ImportList, job polling, and the rows Acoustic refused go
 * down the error path with its reason.
 */
export const datasourceWriteSilverpop = defineScript({
  type: 'datasource.write.silverpop',
  summary:
    'Imports CSV files into an Acoustic Campaign (Silverpop) database: upload to its SFTP, ImportList, job polling; rows Acoustic refused go to the error path with its reason.',
  description:
    'Each incoming file must be comma-separated UTF-8 with a header row (as `file.format.dsv` with `columnSeparator: ","` ' +
    'writes it) whose column names are the database’s. The file is uploaded to `/upload/<job id>-<file name>` on ' +
    'Acoustic’s SFTP with a map file (`<…>.map.xml`: every header column in order, `action`, and `syncFields` as ' +
    'SYNC_FIELDS), then `ImportList` starts the import and `GetJobStatus` is polled until it ends. A job that ends ' +
    'in ERROR fails the step with Acoustic’s description (IDX_ACOUSTIC_JOB_FAILED). The rows named in the job’s ' +
    'error file (`/download/<ERROR_FILE_NAME>`) go down the error path with Acoustic’s reason ' +
    '(IDX_ACOUSTIC_REJECTED); the other rows pass on as records. A file is imported whole within one invocation: ' +
    'an invocation run again after a failure imports it again, which ADD_AND_UPDATE makes harmless. Auth: the ' +
    'OAuth refresh-token grant (`clientId`, `clientSecret`, `refreshToken`); `username`/`password` are the SFTP ' +
    'login (Acoustic’s username/password XML API login is deprecated and not used). Decision: `host` names the SFTP ' +
    'host, since the XML API host follows from `podNumber`.',
  consumes: 'files',
  produces: 'records',
  delivers: 'files',
  params: {
    ...silverpopParams,
    action: {
      type: 'string',
      enum: ['ADD_AND_UPDATE', 'ADD_ONLY', 'UPDATE_ONLY'],
      default: 'ADD_AND_UPDATE',
      description:
        'What the import does with the rows: add new contacts and update existing ones, only add, or only update.',
    },
    syncFields: {
      type: 'string',
      default: '',
      description:
        'Columns that match a row to an existing contact, comma-separated (SYNC_FIELDS), e.g. `GigyaUid`. Empty: the database’s key (EMAIL for a regular database).',
    },
  },
  dryRun: {
    target: (params, name, ctx) => `acoustic:list/${params.listId}${UPLOAD}/${ctx.job.id}-${name.split('/').pop()}`,
  },
  create(params, ctx) {
    const connection = acousticSftp(params, ctx);
    const client = acousticClientFor(params, ctx);
    return {
      async file(file, out) {
        const header = await headerOf(file);
        if (!header || header.problem || header.cells.length === 0)
          throw new IdxError(
            'IDX_PARAM_VALUE',
            `${file.name} has no header row to map into database ${params.listId}`,
            {
              stepId: ctx.stepId,
              expected: 'a CSV file with a header row naming database columns',
              received: header?.problem?.message ?? 'an empty file',
            },
          );
        const base = `${ctx.job.id}-${file.name.split('/').pop()}`.replace(/[^A-Za-z0-9._-]/g, '_');
        const target = new SftpFileTarget(connection);
        await target.upload(`${UPLOAD}/${base}`, file.open());
        const uploaded = await target.size(`${UPLOAD}/${base}`);
        if (uploaded !== file.size)
          throw new IdxError('IDX_SFTP_IO', `${UPLOAD}/${base} holds ${uploaded ?? 0} bytes after its upload`, {
            stepId: ctx.stepId,
            expected: `${file.size} bytes`,
            received: `${uploaded ?? 'no file'}`,
          });
        const map = importMap(params.listId, header.cells, params.action, names(params.syncFields));
        await target.upload(`${UPLOAD}/${base}.map.xml`, Readable.from([map]));
        const jobId = await client.importList(`${base}.map.xml`, base);
        const status = await client.waitForJob(jobId, { pollMs: params.pollSeconds * 1000 });
        ctx.log.info(
          `Acoustic import job ${jobId}: ${status.parameters.SQL_ADDED ?? '?'} added, ${status.parameters.SQL_UPDATED ?? '?'} updated, ${status.parameters.BAD_RECORDS ?? '?'} refused`,
        );
        const refused = await refusedRows(status.parameters.ERROR_FILE_NAME, status.parameters.BAD_RECORDS);
        out.delivered(`${connection.id}${UPLOAD}/${base}`, uploaded);
        const stream = file.open();
        for await (const row of csvRows(stream, file.name)) {
          if (row.line === header.line) continue;
          const record: DataRecord = {};
          header.cells.forEach((name, i) => {
            record[name] = row.cells[i] ?? '';
          });
          const reason = refused.get(row.line);
          if (reason !== undefined)
            out.reject(record, { code: 'IDX_ACOUSTIC_REJECTED', message: reason, line: row.line });
          else if (row.problem)
            out.reject(
              { _raw: row.problem.raw },
              { code: row.problem.code, message: row.problem.message, line: row.line },
            );
          else out.emit(record);
        }
      },
      close: () => connection.close(),
    };

    /** The data rows Acoustic refused (line → reason), from the job's error file. */
    async function refusedRows(errorFile: string | undefined, count: string | undefined): Promise<Map<number, string>> {
      const refused = new Map<number, string>();
      if (!errorFile || count === '0') return refused;
      const source = new SftpFileSource(connection, DOWNLOAD);
      const stream = await source.open(
        { name: errorFile, path: `${DOWNLOAD}/${errorFile}`, size: 0, modifiedAt: 0 },
        0,
      );
      for await (const row of csvRows(stream, errorFile)) {
        const line = Number(row.cells[0]);
        if (row.line === 1 || !Number.isInteger(line)) continue;
        refused.set(line, row.cells[1] ?? 'refused by Acoustic');
      }
      return refused;
    }
  },
});
