import { AzureBlobFileSource } from '../connectors/azure-blob.ts';
import { keyFolder, prefixFolder } from '../connectors/s3.ts';
import { defineScript } from '../core/script.ts';
import { azureBlobAccessParams, checkAzureNames, containerFor } from './util/azure-access.ts';
import { checkReaderParams, fileReaderParams, transferRetryParams } from './util/file-transfer.ts';
import { readerInstance } from './util/remote-files.ts';

/** `datasource.read.azure.blob`: reads the matching blobs of a container folder as files. */
export const datasourceReadAzureBlob = defineScript({
  type: 'datasource.read.azure.blob',
  summary: 'Reads the blobs of an Azure container whose names start with blobPrefix and match a regex.',
  description:
    'Lists the blobs directly under blobPrefix (not in deeper virtual folders), keeps those whose name (the part ' +
    'after the prefix folder) matches fileNameRegex (an empty regex, as the SAP toolkit writes a blank one, matches every name), sorts them, skips those already imported, and streams each ' +
    'into the stage; a dropped connection resumes with a range request on the same ETag. Authenticates with the ' +
    "account's shared key. A blob name that could leave the folder is refused with IDX_REMOTE_PATH_UNSAFE.",
  consumes: 'nothing',
  produces: 'files',
  continues: true,
  defers: true,
  params: {
    ...azureBlobAccessParams,
    blobPrefix: {
      type: 'string',
      default: '',
      description:
        'Blob name prefix to read: a virtual folder ("imports/"), a folder and name prefix ("imports/accounts_"), ' +
        'or a name prefix at the root ("accounts_"). A folder given without its trailing "/" is read as that ' +
        'folder. Empty: the container root.',
      examples: ['imports/', 'accounts_'],
    },
    ...fileReaderParams,
    ...transferRetryParams,
    timeout: {
      type: 'integer',
      default: 60,
      minimum: 1,
      maximum: 3600,
      description: 'Seconds without a byte after which a download counts as dropped (and resumes).',
    },
  },
  check: (params) => [...checkReaderParams(params), ...checkAzureNames(params)],
  async create(params, ctx) {
    const container = await containerFor(ctx.services.config, params, ctx.stepId);
    let moveTo: string | undefined;
    if (params.afterRead === 'move' && params.moveToPath !== undefined) {
      // Refuse a bad folder before anything is read; relative folders are inside the prefix's folder.
      const to = keyFolder(params.moveToPath, { param: 'moveToPath', stepId: ctx.stepId });
      moveTo = params.moveToPath.startsWith('/') ? to : `${prefixFolder(params.blobPrefix.replace(/^\/+/, ''))}${to}`;
    }
    const source = new AzureBlobFileSource({
      container,
      prefix: params.blobPrefix,
      ...(moveTo === undefined ? {} : { moveTo }),
    });
    // The SAP toolkit fills a blank fileNameRegex with "", which IdentitySync reads as "no filter".
    const options = params.fileNameRegex === '' ? { ...params, fileNameRegex: '.*' } : params;
    return readerInstance(source, options, ctx, 'IDX_AZURE_IO');
  },
});
