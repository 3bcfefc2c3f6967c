import { defineScript } from '../core/script.ts';
import { checkSftpParams, folderWriterParams, sftpConnectionParams } from './util/file-transfer.ts';
import { folderTarget, writeFolder } from './util/remote-files.ts';
import { sftpAccountId, sftpFolder } from './util/sftp-folder.ts';

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
  delivers: 'files',
  params: { ...sftpConnectionParams, ...folderWriterParams },
  check: (params) => checkSftpParams(params),
  dryRun: {
    target: (params, name, ctx) => folderTarget(sftpAccountId(params, ctx), params.remotePath, name, ctx.stepId),
  },
  create: (params, ctx) => writeFolder(sftpFolder(params, ctx), params, ctx),
});
