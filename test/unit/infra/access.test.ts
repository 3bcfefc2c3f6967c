import { describe, expect, it } from 'vitest';
import type { Dataflow, Step } from '../../../lib/dataflow/types.ts';
import { dataflowAccess } from '../../../lib/infra/access.ts';
import { dataflowConstructId, jobsTableName, stateMachineName } from '../../../lib/infra/names.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';

const flow = (steps: Partial<Step>[]): Dataflow => ({
  id: 'd',
  name: 'D',
  steps: steps.map((s, i) => ({ id: `s${i}`, type: 'field.rename', params: {}, next: [], error: [], ...s })),
  schedules: [],
  extra: {},
});

const registry = defaultRegistry();

describe('dataflowAccess', () => {
  it('finds every secret reference in params, however deep, once', () => {
    // Prepare
    const d = flow([
      { params: { userKey: '${secret:gigya-key}', nested: { list: ['x ${secret:b} y', '${secret:gigya-key}'] } } },
      { params: { fileName: 'out_${now}.csv' } },
    ]);

    // Act / Assess
    expect(dataflowAccess(d, registry).secrets).toEqual(['b', 'gigya-key']);
  });

  it('adds the conventional GIGYA_* secrets a Gigya step with blank credentials reads at run time', () => {
    // Prepare
    const blank = flow([{ type: 'datasource.read.gigya.account', params: { select: 'UID', userKey: '{{userKey}}' } }]);
    const named = flow([
      {
        type: 'datasource.write.gigya.account',
        params: { apiKey: '3_site', userKey: '${secret:APP_KEY}', secret: '${secret:APP_SECRET}' },
      },
    ]);

    // Act / Assess
    expect(dataflowAccess(blank, registry).secrets).toEqual(['GIGYA_API_KEY', 'GIGYA_SECRET', 'GIGYA_USER_KEY']);
    expect(dataflowAccess(named, registry).secrets).toEqual(['APP_KEY', 'APP_SECRET']);
    expect(dataflowAccess({ ...blank, apiKey: '3_site' }, registry).secrets).toEqual([
      'GIGYA_SECRET',
      'GIGYA_USER_KEY',
    ]);
  });

  it('grants readers their prefix, writers their folder, and movers their target folder', () => {
    // Prepare
    const d = flow([
      {
        type: 'datasource.read.amazon.s3',
        params: { bucketName: 'in', objectKeyPrefix: 'drop/acc_', afterRead: 'move', moveToPath: 'done' },
      },
      { type: 'datasource.read.amazon.s3', params: { bucketName: 'in2', afterRead: 'delete' } },
      { type: 'datasource.write.amazon.s3', params: { bucketName: 'out', objectKeyPrefix: 'exports/${now:yyyy}/x' } },
      {
        type: 'datasource.write.amazon.s3',
        params: { bucketName: 'other', accessKey: '${secret:k}', secretKey: '${secret:s}' },
      },
      { type: 'datasource.write.amazon.s3', params: { bucketName: '${secret:bucket}' } },
    ]);

    // Act
    const { s3, unresolved } = dataflowAccess(d, registry);

    // Assess
    expect(s3).toEqual([
      { stepId: 's0', bucket: 'in', prefix: 'drop/acc_', read: true, write: false, remove: true },
      { stepId: 's0', bucket: 'in', prefix: 'drop/done/', read: false, write: true, remove: false },
      { stepId: 's1', bucket: 'in2', prefix: '', read: true, write: false, remove: true },
      { stepId: 's2', bucket: 'out', prefix: 'exports/', read: true, write: true, remove: false },
    ]);
    expect(unresolved).toEqual([
      {
        stepId: 's4',
        resource: 's3-bucket',
        param: 'bucketName',
        reason: 'the bucket name is only known at run time',
        remedy: 'grant the role access yourself or give the step accessKey/secretKey',
      },
    ]);
  });
});

describe('names', () => {
  it('names state machines <prefix>-<id>, hashing ids a name cannot hold or that are too long', () => {
    // Act
    const odd = stateMachineName('Eloqua outbound (EU)');
    const long = stateMachineName('x'.repeat(100));

    // Assess
    expect(stateMachineName('eloqua-outbound')).toBe('identity-sync-eloqua-outbound');
    expect(stateMachineName('ec736fd6', 'idx-prod')).toBe('idx-prod-ec736fd6');
    expect(odd).toMatch(/^identity-sync-Eloqua-outbound-EU--[0-9a-f]{8}$/);
    expect(odd).not.toBe(stateMachineName('Eloqua-outbound-EU-'));
    expect(long).toHaveLength(80);
    expect(jobsTableName()).toBe('identity-sync-jobs');
    expect(dataflowConstructId('a/b')).toBe('Dataflow-a_b');
  });
});
