import { defineScript } from '../core/script.ts';
import { checkReaderParams, folderReaderParams, ftpConnectionParams } from './util/file-transfer.ts';
import { ftpFolder } from './util/ftp-folder.ts';
import { readFolder } from './util/remote-files.ts';

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
  params: { ...ftpConnectionParams, ...folderReaderParams },
  check: (params) => checkReaderParams(params),
  create: (params, ctx) => readFolder(ftpFolder(params), params, ctx),
});
