import { describe, expect, it } from 'vitest';
import { datasourceWriteExacttarget } from '../../../lib/scripts/datasource.write.exacttarget.ts';
import { datasourceWriteSalesforce } from '../../../lib/scripts/datasource.write.salesforce.ts';

/** The Salesforce writer's params as a dataflow gives them, defaults applied. */
const salesforce = (over: Record<string, unknown> = {}) =>
  ({
    username: 'u',
    authEndpoint: 'https://login.salesforce.com/services/Soap/u/64.0',
    objectType: 'contact',
    primaryId: 'Gigya_UID__c',
    lookupId: '',
    clientId: '',
    batchSize: 10_000,
    maxAttempts: 5,
    jobTimeoutMinutes: 60,
    ...over,
  }) as never;

const exacttarget = (over: Record<string, unknown> = {}) =>
  ({
    clientId: 'c',
    dataExtension: 'GigyaSubscribers',
    primaryKeys: 'GUID, EMAIL',
    authBaseUrl: '',
    accountId: '',
    batchSize: 50,
    maxAttempts: 5,
    ...over,
  }) as never;

describe('datasource.write.salesforce', () => {
  it('refuses a primaryId that is not a field API name, and accepts a template’s elided one', () => {
    // Act
    const bad = datasourceWriteSalesforce.check?.(salesforce({ primaryId: 'Gigya UID' }));
    const elided = datasourceWriteSalesforce.check?.(salesforce({ primaryId: '...' }));

    // Assess
    expect(bad).toMatchObject([{ code: 'IDX_PARAM_VALUE', path: 'primaryId' }]);
    expect(elided).toEqual([]);
  });

  it('describes a dry run’s upsert with the object’s API name and fills primaryId from lookupId', () => {
    // Prepare
    const record = { UID: 'u-1', LastName: 'Doe', profile: {}, _errorDetails: { message: 'x' } };

    // Act
    const call = datasourceWriteSalesforce.dryRun?.call?.(salesforce({ lookupId: 'UID' }), record);
    const refused = datasourceWriteSalesforce.dryRun?.call?.(salesforce(), { LastName: 'Doe' });

    // Assess
    expect(call).toEqual({
      method: 'salesforce.jobs.ingest.upsert',
      params: {
        object: 'Contact',
        externalIdFieldName: 'Gigya_UID__c',
        LastName: 'Doe',
        Gigya_UID__c: 'u-1',
      },
    });
    expect(refused).toMatchObject({
      code: 'IDX_SALESFORCE_REJECTED',
      message: expect.stringContaining('Gigya_UID__c'),
    });
  });
});

describe('datasource.write.exacttarget', () => {
  it('refuses primaryKeys that name no column', () => {
    // Act
    const problems = datasourceWriteExacttarget.check?.(exacttarget({ primaryKeys: ' , ' }));

    // Assess
    expect(problems).toMatchObject([{ code: 'IDX_PARAM_VALUE', path: 'primaryKeys' }]);
  });

  it('describes a dry run’s row with the primary keys apart, and rejects a record without one', () => {
    // Act
    const call = datasourceWriteExacttarget.dryRun?.call?.(exacttarget(), {
      GUID: 'g',
      EMAIL: 'g@example.com',
      FNAME: 'F',
      LNAME: null,
      profile: {},
    });
    const refused = datasourceWriteExacttarget.dryRun?.call?.(exacttarget(), { GUID: 'g', EMAIL: '' });

    // Assess
    expect(call).toEqual({
      method: 'marketingcloud.dataevents.rowset',
      params: {
        dataExtension: 'GigyaSubscribers',
        keys: { GUID: 'g', EMAIL: 'g@example.com' },
        values: { FNAME: 'F' },
      },
    });
    expect(refused).toMatchObject({ code: 'IDX_MARKETING_CLOUD_REJECTED', message: expect.stringContaining('EMAIL') });
  });
});
