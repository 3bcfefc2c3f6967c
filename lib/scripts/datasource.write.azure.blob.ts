import { joinRemote } from '../connectors/remote-path.ts';
import { keyFolder } from '../connectors/s3.ts';
import { defineScript } from '../core/script.ts';
import { azureBlobAccessParams, checkAzureNames, containerFor } from './util/azure-access.ts';
import { blobWriterHook } from './util/azure-upload.ts';
import { OVERWRITE_PARAM, transferRetryParams } from './util/file-transfer.ts';

/** The blob name a file of this name gets under `blobPrefix`, and where it is shown to be (`azure://…`). */
function blobTarget(
  params: { accountName: string; container: string; blobPrefix: string },
  fileName: string,
  stepId: string,
): { name: string; where: string } {
  const folder = keyFolder(params.blobPrefix, { param: 'blobPrefix', stepId });
  const root = folder === '' ? '.' : folder.slice(0, -1);
  const name = joinRemote(root, fileName, { stepId, param: 'file name' });
  return { name, where: `azure://${params.accountName}/${params.container}/${name}` };
}

/** `datasource.write.azure.blob`: puts every incoming file into a container as a block blob. */
export const datasourceWriteAzureBlob = defineScript({
  type: 'datasource.write.azure.blob',
  summary: 'Uploads every incoming file to an Azure container as a block blob, visible only once complete.',
  description:
    'Each file is streamed as staged blocks to <blobPrefix><file name> and appears only when its block list is ' +
    'committed, so a reader never sees a partial blob and a cut connection leaves nothing under the name. A failed ' +
    'upload is retried from the start. A blob already under the name is not replaced unless overwrite is true ' +
    '(the commit carries If-None-Match: *), and the blob is measured after the upload: what Azure holds is what ' +
    "counts as delivered. Authenticates with the account's shared key.",
  consumes: 'files',
  produces: 'nothing',
  delivers: 'files',
  params: {
    ...azureBlobAccessParams,
    blobPrefix: {
      type: 'string',
      default: '',
      description:
        'The virtual folder blobs go to ("exports/daily/"); a missing trailing "/" is added. Empty: the container root.',
      examples: ['exports/', 'gigya/${now:yyyy/MM/dd}/'],
    },
    contentType: {
      type: 'string',
      description: 'Content-Type of the blobs; unset lets Azure store application/octet-stream.',
      examples: ['text/csv'],
    },
    overwrite: OVERWRITE_PARAM,
    ...transferRetryParams,
  },
  check: (params) => checkAzureNames(params),
  dryRun: {
    target: (params, name, ctx) => blobTarget(params, name, ctx.stepId).where,
  },
  async create(params, ctx) {
    const container = await containerFor(ctx.services.config, params, ctx.stepId);
    return {
      file: blobWriterHook(
        ctx,
        { overwrite: params.overwrite, maxAttempts: params.maxAttempts, contentType: params.contentType },
        async (file) => {
          const { name, where } = blobTarget(params, file.name, ctx.stepId);
          return { blob: container.getBlockBlobClient(name), where };
        },
      ),
    };
  },
});
