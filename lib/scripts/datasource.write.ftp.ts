import { FtpConnection, FtpFileTarget, ftpEndpoint } from '../connectors/ftp.ts';
import { normalizeRoot } from '../connectors/remote-path.ts';
import { remoteWriterHook } from '../connectors/transfer.ts';
import { defineScript } from '../core/script.ts';
import { ftpConnectionParams, transferRetryParams } from './util/file-transfer.ts';

/** `datasource.write.ftp`: uploads every incoming file to an FTP(S) folder. */
export const datasourceWriteFtp = defineScript({
  type: 'datasource.write.ftp',
  summary: 'Uploads every incoming file to an FTP or FTPS folder, under a temporary name until it is complete.',
  description:
    'The same upload behaviour as datasource.write.sftp over FTP or explicit FTPS: <name>.uploading renamed once ' +
    'its size is verified, sub-folders created, retries with backoff on a dropped connection, names that could ' +
    'leave remotePath refused with IDX_REMOTE_PATH_UNSAFE.',
  consumes: 'files',
  produces: 'nothing',
  params: {
    ...ftpConnectionParams,
    remotePath: {
      type: 'string',
      default: '',
      description:
        'Folder to upload into (created when missing); relative to the login folder unless it starts with "/". ' +
        'Empty: the login folder.',
      examples: ['/inbound'],
    },
    temporaryUploadExtension: {
      type: 'boolean',
      default: true,
      description:
        'Upload as <name>.uploading, then rename to <name> when complete, so the receiver never sees a partial ' +
        'file. When false the file is written under its final name and, if every attempt fails, removed.',
    },
    ...transferRetryParams,
  },
  create(params, ctx) {
    const root = normalizeRoot(params.remotePath, { param: 'remotePath', stepId: ctx.stepId });
    const connection = new FtpConnection(ftpEndpoint(params), ctx.stepId);
    const target = new FtpFileTarget(connection);
    const options = {
      root,
      temporaryUploadExtension: params.temporaryUploadExtension,
      maxAttempts: params.maxAttempts,
      timeout: params.timeout,
    };
    return {
      file: remoteWriterHook(
        target,
        options,
        ctx,
        { io: 'IDX_FTP_IO' },
        async (path) => `${connection.id}/${(await connection.absolute(path)).replace(/^\//, '')}`,
      ),
      close: () => connection.close(),
    };
  },
});
