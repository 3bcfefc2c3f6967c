/**
 * AWS SDK failures of the commands and the console that work on a deployed stack, as coded errors saying what is
 * missing or refused and what to do.
 */
import { IdxError } from '../core/errors.ts';

const NETWORK =
  /ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|TimeoutError|socket hang up/;

/**
 * An AWS SDK failure as one coded line saying what is missing or refused and what to do; the SDK's own messages
 * ("Region is missing") do not say how to fix them. Coded errors pass through.
 */
export function deployedError(error: unknown): IdxError {
  if (error instanceof IdxError) return error;
  const e = error as { name?: string; message?: string; code?: string };
  const name = e.name ?? 'Error';
  const message = (e.message ?? String(error)).replace(/\s+/g, ' ').trim();
  const cause = { cause: error };
  if (/region is missing/i.test(message))
    return new IdxError('IDX_DEPLOYED_REGION', 'no AWS region: set AWS_REGION or --region', {
      expected: 'a region from --region, AWS_REGION or the profile',
      received: 'none',
      ...cause,
    });
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message))
    return new IdxError(
      'IDX_DEPLOYED_CREDENTIALS',
      'no AWS credentials: set AWS_PROFILE (after `aws sso login` or `aws configure`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      { received: message, ...cause },
    );
  if (/Expired|UnrecognizedClient|InvalidClientTokenId|InvalidSignature|SignatureDoesNotMatch/.test(name))
    return new IdxError('IDX_DEPLOYED_CREDENTIALS', `AWS did not accept the credentials: ${name}: ${message}`, cause);
  if (/AccessDenied|NotAuthorized|Forbidden/.test(name))
    return new IdxError('IDX_DEPLOYED_ACCESS', `AWS refused the call: ${name}: ${message}`, {
      expected: 'permission to start executions and read the jobs table of the stack',
      ...cause,
    });
  if (name === 'ResourceNotFoundException')
    return new IdxError('IDX_DEPLOYED_NOT_FOUND', message, {
      expected: 'the deployed stack in this account and region (check --prefix, --jobs-table and --region)',
      ...cause,
    });
  if (NETWORK.test(`${name} ${e.code ?? ''} ${message}`))
    return new IdxError('IDX_DEPLOYED_NETWORK', `cannot reach AWS: ${message}`, { transient: true, ...cause });
  return new IdxError('IDX_DEPLOYED_AWS', `${name}: ${message}`, cause);
}
