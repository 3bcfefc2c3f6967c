import { FtpConnection, FtpFileSource, ftpEndpoint } from '../connectors/ftp.ts';
import { finishRemoteFiles, readRemoteFiles } from '../connectors/transfer.ts';
import { defineScript } from '../core/script.ts';
import { checkReaderParams, fileReaderParams, ftpConnectionParams, transferRetryParams } from './util/file-transfer.ts';

/** `datasource.read.ftp`: downloads the matching files of an FTP(S) folder. */
export const datasourceReadFtp = defineScript({
  type: 'datasource.read.ftp',
  summary:
    'Downloads the files of an FTP or FTPS folder whose names match a regex; each becomes a file for the next step.',
  description:
    'The same selection, memory and post-read options as datasource.read.sftp, over FTP or explicit FTPS. A ' +
    'dropped connection reconnects and resumes with REST where the download stopped. A name from the server ' +
    'that could leave the folder is refused with IDX_REMOTE_PATH_UNSAFE.',
  consumes: 'nothing',
  produces: 'files',
  continues: true,
  defers: true,
  params: {
    ...ftpConnectionParams,
    remotePath: {
      type: 'string',
      default: '',
      description:
        'Folder to read from; relative to the login folder unless it starts with "/". Empty: the login folder.',
      examples: ['/outbound'],
    },
    ...fileReaderParams,
    ...transferRetryParams,
  },
  check: (params) => checkReaderParams(params),
  create(params, ctx) {
    const connection = new FtpConnection(ftpEndpoint(params), ctx.stepId);
    const moveTo = params.afterRead === 'move' ? params.moveToPath : undefined;
    const source = new FtpFileSource(connection, params.remotePath, moveTo, ctx.stepId);
    return {
      read: (out) => readRemoteFiles(source, params, ctx, out, { io: 'IDX_FTP_IO' }),
      afterJob: (deferred) => finishRemoteFiles(source, params, ctx, deferred, { io: 'IDX_FTP_IO' }),
      close: () => connection.close(),
    };
  },
});
