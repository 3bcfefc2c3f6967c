/**
 * The stand-ins local mode starts besides DynamoDB and S3. Each returns endpoint overrides that steps use when
 * their own endpoint params are empty.
 */
import type { Dataflow } from '../dataflow/types.ts';
import { azuriteExtra } from './azurite.ts';
import type { LocalExtra } from './environment.ts';
import { gigyaExtra } from './gigya-extra.ts';
import { marketingCloudExtra } from './marketing-cloud-emulator.ts';
import { salesforceExtra } from './salesforce-emulator.ts';
import { sftpExtra } from './sftp-server.ts';

/**
 * The extra stand-ins of local mode a run needs: the Gigya emulator and the SFTP server always (the shipped
 * dataflows and the CLI's Gigya commands use them), Azurite only for a dataflow with an Azure step, since it is a
 * child process that takes about a second to start, and the Salesforce and Marketing Cloud emulators only for one
 * with a step of theirs. Without a dataflow, every one.
 */
export function defaultExtras(dataflow?: Dataflow): LocalExtra[] {
  const azure = !dataflow || dataflow.steps.some((s) => s.type.includes('.azure.'));
  const salesforce = !dataflow || dataflow.steps.some((s) => s.type === 'datasource.write.salesforce');
  const marketingCloud = !dataflow || dataflow.steps.some((s) => s.type === 'datasource.write.exacttarget');
  return [
    gigyaExtra(),
    sftpExtra(),
    ...(azure ? [azuriteExtra()] : []),
    ...(salesforce ? [salesforceExtra()] : []),
    ...(marketingCloud ? [marketingCloudExtra()] : []),
  ];
}
