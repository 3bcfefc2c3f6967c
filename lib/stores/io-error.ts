/** The coded error of a failed read or write of the state table, transient when a retry may succeed. */
import { IdxError } from '../core/errors.ts';

/**
 * `IDX_STATE_IO` for a DynamoDB call on the state table that failed while doing `action` (e.g. "read
 * processed-file marks"); transient for server errors, throttling and dropped connections, which a retry of the
 * step may get past.
 */
export function stateIoError(error: unknown, action: string): IdxError {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode ?? 0;
  return new IdxError('IDX_STATE_IO', `cannot ${action}: ${e.name ?? 'error'} ${e.message ?? ''}`.trim(), {
    transient:
      status >= 500 || /Throttl|ProvisionedThroughput|RequestLimit|ECONN|ETIMEDOUT|socket/i.test(String(e.name)),
    cause: error,
  });
}
