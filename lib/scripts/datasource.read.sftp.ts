import { resolveSftpEndpoint, SftpConnection, SftpFileSource } from '../connectors/sftp.ts';
import { finishRemoteFiles, readRemoteFiles } from '../connectors/transfer.ts';
import { defineScript } from '../core/script.ts';
import {
  checkReaderParams,
  fileReaderParams,
  sftpConnectionParams,
  transferRetryParams,
} from './util/file-transfer.ts';

/** `datasource.read.sftp`: downloads the matching files of an SFTP folder. */
export const datasourceReadSftp = defineScript({
  type: 'datasource.read.sftp',
  summary: 'Downloads the files of an SFTP folder whose names match a regex; each becomes a file for the next step.',
  description:
    'Lists remotePath (not recursively), keeps the regular files whose name matches fileNameRegex, sorts them, ' +
    'skips those already imported, and streams each into the stage; a dropped connection reconnects and resumes ' +
    'where it stopped. A name from the server that could leave the folder is refused with IDX_REMOTE_PATH_UNSAFE.',
  consumes: 'nothing',
  produces: 'files',
  continues: true,
  defers: true,
  params: {
    ...sftpConnectionParams,
    remotePath: {
      type: 'string',
      default: '',
      description:
        'Folder to read from; relative to the login folder unless it starts with "/". Empty: the login folder.',
      examples: ['/outbound', 'exports/daily'],
    },
    ...fileReaderParams,
    ...transferRetryParams,
  },
  check: (params) => checkReaderParams(params),
  create(params, ctx) {
    const connection = new SftpConnection(resolveSftpEndpoint(params, ctx.services, ctx.stepId), ctx.log, ctx.stepId);
    const moveTo = params.afterRead === 'move' ? params.moveToPath : undefined;
    const source = new SftpFileSource(connection, params.remotePath, moveTo, ctx.stepId);
    return {
      read: (out) => readRemoteFiles(source, params, ctx, out, { io: 'IDX_SFTP_IO' }),
      afterJob: (deferred) => finishRemoteFiles(source, params, ctx, deferred, { io: 'IDX_SFTP_IO' }),
      close: () => connection.close(),
    };
  },
});
