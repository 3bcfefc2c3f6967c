/**
 * The stand-ins local mode starts besides DynamoDB and S3. Each returns endpoint overrides that steps use when
 * their own endpoint params are empty.
 */
import type { Dataflow } from '../dataflow/types.ts';
import { acousticExtra } from './acoustic-emulator.ts';
import { azuriteExtra } from './azurite.ts';
import type { LocalExtra } from './environment.ts';
import { gigyaExtra } from './gigya-extra.ts';
import { marketoExtra } from './marketo-emulator.ts';
import { sftpExtra } from './sftp-server.ts';

/**
 * The extra stand-ins of local mode a run needs: the Gigya emulator and the SFTP server always (the shipped
 * dataflows and the CLI's Gigya commands use them), Azurite only for a dataflow with an Azure step, since it is a
 * child process that takes about a second to start, and the Acoustic and Marketo emulators only for one with a
 * step of theirs.
 * Without a dataflow, every one.
 */
export function defaultExtras(dataflow?: Dataflow): LocalExtra[] {
  const azure = !dataflow || dataflow.steps.some((s) => s.type.includes('.azure.'));
  const acoustic = !dataflow || dataflow.steps.some((s) => s.type.endsWith('.silverpop'));
  const marketo = !dataflow || dataflow.steps.some((s) => s.type === 'datasource.write.marketo');
  return [
    gigyaExtra(),
    sftpExtra(),
    ...(azure ? [azuriteExtra()] : []),
    ...(acoustic ? [acousticExtra()] : []),
    ...(marketo ? [marketoExtra()] : []),
  ];
}
