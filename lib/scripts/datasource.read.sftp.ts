import { defineScript } from '../core/script.ts';
import { checkReaderParams, checkSftpParams, folderReaderParams, sftpConnectionParams } from './util/file-transfer.ts';
import { readFolder } from './util/remote-files.ts';
import { sftpFolder } from './util/sftp-folder.ts';

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
  params: { ...sftpConnectionParams, ...folderReaderParams },
  check: (params) => [...checkReaderParams(params), ...checkSftpParams(params)],
  create: (params, ctx) => readFolder(sftpFolder(params, ctx), params, ctx),
});
