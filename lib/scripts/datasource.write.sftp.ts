import { normalizeRoot } from '../connectors/remote-path.ts';
import { resolveSftpEndpoint, SftpConnection, SftpFileTarget } from '../connectors/sftp.ts';
import { remoteWriterHook } from '../connectors/transfer.ts';
import { defineScript } from '../core/script.ts';
import { sftpConnectionParams, transferRetryParams } from './util/file-transfer.ts';

/** `datasource.write.sftp`: uploads every incoming file to an SFTP folder. */
export const datasourceWriteSftp = defineScript({
  type: 'datasource.write.sftp',
  summary: 'Uploads every incoming file to an SFTP folder, under a temporary name until it is complete.',
  description:
    'Each file is streamed to <remotePath>/<file name> (sub-folders in the name are created). With ' +
    'temporaryUploadExtension it is written as <name>.uploading and renamed once its size is verified, so the ' +
    'receiver never picks up a partial file; an existing file of that name is replaced. A dropped connection ' +
    'reconnects and uploads again, with backoff. A file name that could leave remotePath is refused with ' +
    'IDX_REMOTE_PATH_UNSAFE.',
  consumes: 'files',
  produces: 'nothing',
  params: {
    ...sftpConnectionParams,
    remotePath: {
      type: 'string',
      default: '',
      description:
        'Folder to upload into (created when missing); relative to the login folder unless it starts with "/". ' +
        'Empty: the login folder.',
      examples: ['/inbound', 'errors'],
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
    const connection = new SftpConnection(resolveSftpEndpoint(params, ctx.services, ctx.stepId), ctx.log, ctx.stepId);
    const target = new SftpFileTarget(connection);
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
        { io: 'IDX_SFTP_IO' },
        (path) => `${connection.id}/${path.replace(/^\//, '')}`,
      ),
      close: () => connection.close(),
    };
  },
});
