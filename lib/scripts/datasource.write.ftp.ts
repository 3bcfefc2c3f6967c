import { defineScript } from '../core/script.ts';
import { folderWriterParams, ftpConnectionParams } from './util/file-transfer.ts';
import { ftpAccountId, ftpFolder } from './util/ftp-folder.ts';
import { folderTarget, writeFolder } from './util/remote-files.ts';

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
  delivers: 'files',
  params: { ...ftpConnectionParams, ...folderWriterParams },
  // A relative remotePath is named as written: the login folder it starts from is known only once connected.
  dryRun: { target: (params, name, ctx) => folderTarget(ftpAccountId(params), params.remotePath, name, ctx.stepId) },
  create: (params, ctx) => writeFolder(ftpFolder(params), params, ctx),
});
