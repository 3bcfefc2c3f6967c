/**
 * The stand-ins local mode starts besides DynamoDB and S3. Each returns endpoint overrides that steps use when
 * their own endpoint params are empty.
 */
import type { Dataflow } from '../dataflow/types.ts';
import { azuriteExtra } from './azurite.ts';
import { campaignMonitorExtra } from './campaign-monitor-emulator.ts';
import type { LocalExtra } from './environment.ts';
import { gigyaExtra } from './gigya-extra.ts';
import { mailchimpExtra } from './mailchimp-emulator.ts';
import { sftpExtra } from './sftp-server.ts';

/**
 * The extra stand-ins of local mode a run needs: the Gigya emulator and the SFTP server always (the shipped
 * dataflows and the CLI's Gigya commands use them), Azurite only for a dataflow with an Azure step, since it is a
 * child process that takes about a second to start, and a marketing platform's emulator only for a dataflow with a
 * step of that platform. Without a dataflow, every one.
 */
export function defaultExtras(dataflow?: Dataflow): LocalExtra[] {
  const azure = !dataflow || dataflow.steps.some((s) => s.type.includes('.azure.'));
  const mailchimp = !dataflow || dataflow.steps.some((s) => s.type.endsWith('.mailchimp'));
  const campaignMonitor = !dataflow || dataflow.steps.some((s) => s.type.endsWith('.campaignmonitor'));
  return [
    gigyaExtra(),
    sftpExtra(),
    ...(azure ? [azuriteExtra()] : []),
    ...(mailchimp ? [mailchimpExtra()] : []),
    ...(campaignMonitor ? [campaignMonitorExtra()] : []),
  ];
}
