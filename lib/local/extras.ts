/**
 * The stand-ins local mode starts besides DynamoDB and S3. Each returns endpoint overrides that steps use when
 * their own endpoint params are empty.
 */
import { azuriteExtra } from './azurite.ts';
import type { LocalExtra } from './environment.ts';
import { gigyaExtra } from './gigya-extra.ts';
import { sftpExtra } from './sftp-server.ts';

/** Every extra stand-in of local mode. */
export function defaultExtras(): LocalExtra[] {
  return [gigyaExtra(), sftpExtra(), azuriteExtra()];
}
