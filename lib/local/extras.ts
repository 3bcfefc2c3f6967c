/**
 * The stand-ins local mode starts besides DynamoDB and S3. Each returns endpoint overrides that steps use when
 * their own endpoint params are empty.
 */
import type { Dataflow } from '../dataflow/types.ts';
import { acousticExtra } from './acoustic-emulator.ts';
import { azuriteExtra } from './azurite.ts';
import { campaignMonitorExtra } from './campaign-monitor-emulator.ts';
import { constantContactExtra } from './constant-contact-emulator.ts';
import { eloquaExtra } from './eloqua-extra.ts';
import type { LocalExtra } from './environment.ts';
import { gigyaExtra } from './gigya-extra.ts';
import { mailchimpExtra } from './mailchimp-emulator.ts';
import { marketingCloudExtra } from './marketing-cloud-emulator.ts';
import { marketoExtra } from './marketo-emulator.ts';
import { salesforceExtra } from './salesforce-emulator.ts';
import { sftpExtra } from './sftp-server.ts';

/**
 * The extra stand-ins of local mode a run needs: the Gigya emulator and the SFTP server always (the shipped
 * dataflows and the CLI's Gigya commands use them); each other one only for a dataflow with a step it serves, since
 * Azurite is a child process that takes about a second to start and every emulator holds a port and state. Without
 * a dataflow, every one.
 */
export function defaultExtras(dataflow?: Dataflow): LocalExtra[] {
  const needs = (test: (type: string) => boolean) => !dataflow || dataflow.steps.some((s) => test(s.type));
  const optional: [boolean, () => LocalExtra][] = [
    [needs((t) => t.includes('.azure.')), azuriteExtra],
    [needs((t) => t.endsWith('.eloqua')), eloquaExtra],
    [needs((t) => t.endsWith('.silverpop')), acousticExtra],
    [needs((t) => t === 'datasource.write.marketo'), marketoExtra],
    [needs((t) => t.endsWith('.mailchimp')), mailchimpExtra],
    [needs((t) => t.endsWith('.campaignmonitor')), campaignMonitorExtra],
    [needs((t) => t === 'datasource.write.constantcontact'), constantContactExtra],
    [needs((t) => t === 'datasource.write.salesforce'), salesforceExtra],
    [needs((t) => t === 'datasource.write.exacttarget'), marketingCloudExtra],
  ];
  return [gigyaExtra(), sftpExtra(), ...optional.filter(([needed]) => needed).map(([, extra]) => extra())];
}

/**
 * Whether a run of `dataflow` serves its embedded S3 and SFTP from the service thread (service-thread.ts) rather
 * than from its main thread: when a step calls Gigya, whose calls are paced to the site's rate limit. There, a main
 * thread busy serving S3 holds calls back, and the calls that leave late reach the site bunched into one second,
 * which the site refuses (403048) and the whole job pauses for; and the servers' work waits for the steps' and
 * theirs for it (README, "The service thread", has the measured export). Elsewhere the main thread is busy with the
 * records themselves, the thread gains a few percent, and its heap (some 40 MB of resident memory at the peak of
 * `npm run bench -- pipeline`) would take that benchmark past its 200 MB.
 */
export function wantsServiceThread(dataflow: Dataflow): boolean {
  return dataflow.steps.some((s) => s.type.includes('.gigya'));
}
