/**
 * How the Azure Blob steps reach a container: the account name and key (a secret) as IdentitySync names them, on
 * `https://<account>.blob.core.windows.net`, or in local mode on the embedded Azurite (path-style
 * `<endpoint>/<account>`).
 */
import type { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { hasPlaceholder } from '../../core/access.ts';
import { IdxError, showValue } from '../../core/errors.ts';
import type { ParamsOf } from '../../core/params.ts';
import type { ScriptCheckProblem } from '../../core/script.ts';
import type { RuntimeConfig } from '../../core/services.ts';

/** The account params of `datasource.read.azure.blob` and `datasource.write.azure.blob`. */
export const azureBlobAccessParams = {
  accountName: {
    type: 'string',
    required: true,
    description:
      'Storage account name. In local mode the embedded Azurite knows the account devstoreaccount1 with its ' +
      'well-known key.',
    examples: ['mystorageaccount', 'devstoreaccount1'],
  },
  accountKey: {
    type: 'string',
    required: true,
    secret: true,
    description: 'Storage account access key (base64), as ${secret:NAME}.',
  },
  container: {
    type: 'string',
    required: true,
    description: 'Blob container name (3 to 63 lower-case letters, digits and hyphens).',
    examples: ['imports'],
  },
} as const;

/** Azure's container naming rule: 3–63 characters, lower-case letters, digits, single hyphens inside. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
/** Azure's account naming rule: 3–24 lower-case letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;

/**
 * Checks the account and container names a dataflow writes literally, so a name Azure would refuse fails
 * validation rather than the job. Values known only at run time (`${…}`) or left as template blanks (`{{…}}`) wait.
 */
export function checkAzureNames(params: { accountName?: string; container?: string }): ScriptCheckProblem[] {
  const problems: ScriptCheckProblem[] = [];
  const rules = [
    ['accountName', params.accountName, ACCOUNT_NAME, '3 to 24 lower-case letters and digits'],
    ['container', params.container, CONTAINER_NAME, '3 to 63 lower-case letters, digits and single hyphens'],
  ] as const;
  for (const [path, value, rule, expected] of rules) {
    if (value === undefined || hasPlaceholder(value) || /^\{\{.*\}\}$/.test(value.trim()) || rule.test(value)) continue;
    problems.push({
      code: 'IDX_PARAM_VALUE',
      path,
      message: `${path} is not a name Azure accepts, so every request would fail`,
      expected,
      received: showValue(value),
    });
  }
  return problems;
}

/**
 * The Azure SDK, loaded when a step first reaches Azure: loaded with every script it would add about 20 MB to the
 * resident memory of each run, including the many that never use it (`npm run bench -- pipeline`).
 */
export function azureSdk(): Promise<typeof import('@azure/storage-blob')> {
  return import('@azure/storage-blob');
}

/** The container a step reaches, checked before any request (bad names are refused with the param named). */
export async function containerFor(
  config: RuntimeConfig,
  params: ParamsOf<typeof azureBlobAccessParams>,
  stepId: string,
): Promise<ContainerClient> {
  const { BlobServiceClient, StorageSharedKeyCredential } = await azureSdk();
  const refuse = (param: string, expected: string, received: string) =>
    new IdxError(
      'IDX_PARAM_VALUE',
      `${param} is not a valid Azure ${param === 'container' ? 'container' : 'account'} name`,
      {
        stepId,
        param,
        expected,
        received,
      },
    );
  if (!ACCOUNT_NAME.test(params.accountName))
    throw refuse('accountName', '3 to 24 lower-case letters and digits', JSON.stringify(params.accountName));
  if (!CONTAINER_NAME.test(params.container))
    throw refuse(
      'container',
      '3 to 63 lower-case letters, digits and single hyphens',
      JSON.stringify(params.container),
    );
  let credential: StorageSharedKeyCredential;
  try {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(params.accountKey.trim())) throw new Error('not base64');
    credential = new StorageSharedKeyCredential(params.accountName, params.accountKey.trim());
  } catch {
    throw new IdxError('IDX_AZURE_AUTH', 'accountKey is not a storage account key', {
      stepId,
      param: 'accountKey',
      expected: 'the base64 key of the storage account',
      // Never echo the value: it is a secret.
      received: `a value of ${params.accountKey.length} characters that is not base64`,
    });
  }
  const local = config.local ? config.endpoints.azureBlob : undefined;
  const url = local
    ? `${local.replace(/\/+$/, '')}/${params.accountName}`
    : `https://${params.accountName}.blob.core.windows.net`;
  return new BlobServiceClient(url, credential, {
    // The steps retry on their own terms (maxAttempts, backoff, coded errors); one SDK attempt each.
    retryOptions: { maxTries: 1 },
  }).getContainerClient(params.container);
}
