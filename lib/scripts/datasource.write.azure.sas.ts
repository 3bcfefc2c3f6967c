import { type BearerToken, requestSasUrl, requestToken, withoutSignature } from '../connectors/azure-sas.ts';
import { checkRelativeName } from '../connectors/remote-path.ts';
import { IdxError, locateError } from '../core/errors.ts';
import { defineScript, type ScriptContext } from '../core/script.ts';
import { azureSdk } from './util/azure-access.ts';
import { blobWriterHook } from './util/azure-upload.ts';
import { OVERWRITE_PARAM, transferRetryParams } from './util/file-transfer.ts';

/** A token is renewed this long before it expires, so an upload never starts with one about to lapse. */
const TOKEN_MARGIN_MS = 5 * 60_000;

/**
 * The token endpoint, the resource and the SAS service a step talks to: its params, or locally the embedded SAS
 * service when they are empty.
 */
function sasEndpoints(
  params: { loginUrl: string; authenticationUrl: string; blobUri: string },
  ctx: ScriptContext,
): { loginUrl: string; authenticationUrl: string; serviceUrl: string } {
  const config = ctx.services.config;
  const local = config.local ? config.endpoints.azureSas : undefined;
  const pick = (param: 'loginUrl' | 'authenticationUrl', fallback: string | undefined): string => {
    const given = params[param].trim();
    if (given) return given;
    if (fallback) return fallback;
    throw new IdxError('IDX_PARAM_MISSING', `${param} is empty and no local SAS service is running`, {
      stepId: ctx.stepId,
      param,
      expected: 'an https URL',
      received: 'nothing',
    });
  };
  const loginUrl = pick('loginUrl', local && `${local}/local-tenant`);
  const authenticationUrl = pick('authenticationUrl', local).replace(/\/+$/, '');
  const blobUri = params.blobUri.trim();
  const serviceUrl = /^https?:\/\//.test(blobUri)
    ? blobUri
    : `${authenticationUrl}${blobUri === '' || blobUri.startsWith('/') ? '' : '/'}${blobUri}`;
  return { loginUrl, authenticationUrl, serviceUrl };
}

/** `datasource.write.azure.sas`: uploads every incoming file to the blob a SAS service signs for it. */
export const datasourceWriteAzureSas = defineScript({
  type: 'datasource.write.azure.sas',
  summary:
    'Uploads every incoming file to Azure Blob storage through a SAS URL obtained with OAuth client credentials.',
  description:
    'Gets a bearer token from loginUrl with the OAuth 2.0 client-credentials grant (clientId, clientSecret, and ' +
    'authenticationUrl as the resource), then for each file asks the SAS service at authenticationUrl + blobUri + ' +
    '<file name> for a SAS URL and streams the file there as a block blob, visible only once committed. The SAS ' +
    'answer may be the URL as text or JSON (sasUrl, sasUri, url, uri or sas); a container SAS gets the file name ' +
    'appended. A blob already there is not replaced unless overwrite is true. Signatures and tokens are never ' +
    'logged: the job record lists the blob URL without its query.',
  consumes: 'files',
  produces: 'nothing',
  delivers: 'files',
  params: {
    clientId: { type: 'string', required: true, description: 'OAuth client (application) id.' },
    clientSecret: {
      type: 'string',
      required: true,
      secret: true,
      description: 'OAuth client secret, as ${secret:NAME}.',
    },
    loginUrl: {
      type: 'string',
      default: '',
      description:
        'The OAuth authority, e.g. https://login.microsoftonline.com/<tenant>; the token is requested from ' +
        '<loginUrl>/oauth2/token unless the URL already ends in /token. Empty in local mode: the local token endpoint.',
      examples: ['https://login.microsoftonline.com/contoso.onmicrosoft.com'],
    },
    authenticationUrl: {
      type: 'string',
      default: '',
      description:
        'Base URL of the SAS service; also the resource (audience) the token is requested for. Empty in local ' +
        'mode: the local SAS service.',
      examples: ['https://sasmanager.example.net'],
    },
    blobUri: {
      type: 'string',
      default: '',
      description: 'Path of the SAS service under authenticationUrl that the file name is appended to (or a full URL).',
      examples: ['/api/sasstorage/create/'],
    },
    timeout: {
      type: 'integer',
      default: 60,
      minimum: 1,
      maximum: 600,
      description: 'Seconds to wait for the token endpoint and the SAS service.',
    },
    overwrite: OVERWRITE_PARAM,
    ...transferRetryParams,
  },
  dryRun: {
    // The SAS service names the blob only when asked, which a dry run does not do: the target is the file's name
    // at the service that would sign it.
    target: (params, name, ctx) => `${sasEndpoints(params, ctx).serviceUrl} → ${name}`,
  },
  create(params, ctx) {
    const { loginUrl, authenticationUrl, serviceUrl } = sasEndpoints(params, ctx);
    const timeoutMs = params.timeout * 1000;
    let token: BearerToken | undefined;
    const bearer = async (): Promise<string> => {
      if (!token || token.expiresAt - TOKEN_MARGIN_MS < Date.now()) {
        token = await requestToken({
          loginUrl,
          clientId: params.clientId,
          clientSecret: params.clientSecret,
          resource: authenticationUrl,
          timeoutMs,
        }).catch((error: unknown) => {
          const refused = error instanceof IdxError && error.code === 'IDX_AZURE_SAS_AUTH';
          throw locateError(error, { stepId: ctx.stepId, param: refused ? 'clientSecret' : 'loginUrl' });
        });
      }
      return token.token;
    };
    return {
      file: blobWriterHook(ctx, { overwrite: params.overwrite, maxAttempts: params.maxAttempts }, async (file) => {
        const name = checkRelativeName(file.name, { stepId: ctx.stepId, param: 'file name' }).join('/');
        const token = await bearer();
        const sas = await requestSasUrl(serviceUrl, name, token, timeoutMs).catch((error: unknown) => {
          const refused = error instanceof IdxError && error.code === 'IDX_AZURE_SAS_AUTH';
          throw locateError(error, { stepId: ctx.stepId, param: refused ? 'authenticationUrl' : 'blobUri' });
        });
        const { AnonymousCredential, BlockBlobClient } = await azureSdk();
        return {
          blob: new BlockBlobClient(sas.toString(), new AnonymousCredential(), { retryOptions: { maxTries: 1 } }),
          where: withoutSignature(sas),
        };
      }),
    };
  },
});
