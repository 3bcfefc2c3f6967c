import { describe, expect, it } from 'vitest';
import type { Dataflow } from '../../../lib/dataflow/types.ts';
import { defaultExtras, wantsServiceThread } from '../../../lib/local/extras.ts';

/** A dataflow of the given step types, one after the other. */
function flow(...types: string[]): Dataflow {
  return {
    id: 'extras',
    name: 'Extras',
    steps: types.map((type, i) => ({
      id: `s${i}`,
      type,
      params: {},
      ...(i + 1 < types.length ? { next: [`s${i + 1}`] } : {}),
    })),
  } as unknown as Dataflow;
}

/** What the chosen stand-ins provide, flattened. */
const provided = (dataflow?: Dataflow) => defaultExtras(dataflow).flatMap((e) => [...(e.provides ?? [])]);

describe('defaultExtras', () => {
  it('starts Azurite only for a dataflow with an Azure step, and for a command without a dataflow', () => {
    // Act
    const sftp = provided(flow('datasource.read.gigya.account', 'file.format.dsv', 'datasource.write.sftp'));
    const azure = provided(flow('datasource.read.gigya.account', 'file.format.dsv', 'datasource.write.azure.blob'));
    const none = provided();

    // Assess
    expect(sftp).toEqual(['gigya', 'sftp']);
    expect(azure).toEqual(['gigya', 'sftp', 'azureBlob', 'azureSas']);
    expect(none).toEqual([
      ...azure,
      'eloqua',
      'acoustic',
      'marketo',
      'mailchimp',
      'campaignMonitor',
      'constantContact',
      'salesforce',
      'marketingCloud',
    ]);
  });

  it('starts the Eloqua emulator only for a dataflow with an Eloqua step', () => {
    // Act
    const outbound = provided(flow('datasource.read.gigya.account', 'datasource.write.eloqua'));
    const inbound = provided(flow('datasource.read.eloqua', 'datasource.write.gigya.account'));

    // Assess
    expect(outbound).toEqual(['gigya', 'sftp', 'eloqua']);
    expect(inbound).toEqual(['gigya', 'sftp', 'eloqua']);
  });

  it('starts the Acoustic and Marketo emulators only for a dataflow with a step of theirs', () => {
    // Act
    const silverpop = provided(flow('datasource.read.silverpop', 'datasource.write.gigya.account'));
    const marketo = provided(flow('datasource.read.gigya.account', 'datasource.write.marketo'));

    // Assess
    expect(silverpop).toEqual(['gigya', 'sftp', 'acoustic']);
    expect(marketo).toEqual(['gigya', 'sftp', 'marketo']);
  });

  it('starts the Mailchimp emulator only for a dataflow with a Mailchimp step', () => {
    // Act
    const inbound = provided(flow('datasource.read.mailchimp', 'datasource.write.gigya.account'));
    const outbound = provided(flow('datasource.read.gigya.account', 'datasource.write.mailchimp'));

    // Assess
    expect(inbound).toEqual(['gigya', 'sftp', 'mailchimp']);
    expect(outbound).toEqual(inbound);
  });

  it('starts the Campaign Monitor emulator only for a dataflow with a Campaign Monitor step', () => {
    // Act
    const inbound = provided(flow('datasource.read.campaignmonitor', 'datasource.write.gigya.account'));

    // Assess
    expect(inbound).toEqual(['gigya', 'sftp', 'campaignMonitor']);
  });

  it('starts the Constant Contact emulator only for a dataflow with a Constant Contact step', () => {
    // Act
    const outbound = provided(flow('datasource.read.gigya.account', 'datasource.write.constantcontact'));
    const other = provided(flow('datasource.read.gigya.account', 'datasource.write.mailchimp'));

    // Assess
    expect(outbound).toEqual(['gigya', 'sftp', 'constantContact']);
    expect(other).not.toContain('constantContact');
  });

  it('starts the Salesforce and Marketing Cloud emulators only for a dataflow with a step of theirs', () => {
    // Act
    const salesforce = provided(flow('datasource.read.gigya.account', 'datasource.write.salesforce'));
    const marketingCloud = provided(flow('datasource.read.gigya.account', 'datasource.write.exacttarget'));

    // Assess
    expect(salesforce).toEqual(['gigya', 'sftp', 'salesforce']);
    expect(marketingCloud).toEqual(['gigya', 'sftp', 'marketingCloud']);
  });
});

describe('wantsServiceThread', () => {
  it('serves the embedded servers from their thread for a dataflow that calls Gigya, and only then', () => {
    // Act
    const reads = wantsServiceThread(flow('datasource.read.gigya.account', 'file.format.dsv', 'datasource.write.sftp'));
    const writes = wantsServiceThread(flow('datasource.read.sftp', 'file.parse.dsv', 'datasource.write.gigya.account'));
    const files = wantsServiceThread(flow('datasource.read.amazon.s3', 'file.parse.dsv', 'datasource.write.sftp'));

    // Assess
    expect([reads, writes, files]).toEqual([true, true, false]);
  });
});
