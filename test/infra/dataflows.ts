/** The dataflows the infra tests deploy: two with different secrets, schedules and S3 locations, one bare. */
import type { Dataflow } from '../../lib/dataflow/types.ts';
import { validDataflow } from '../support/infra.ts';

/** Alpha: S3 with its own keys → CSV → S3 through the role; three schedules with email recipients. */
export const ALPHA = {
  id: 'alpha',
  name: 'Alpha export <nightly>',
  steps: [
    {
      id: 'read',
      type: 'datasource.read.amazon.s3',
      params: {
        bucketName: 'partner-a',
        objectKeyPrefix: 'in/',
        accessKey: '${secret:alpha-key}',
        secretKey: '${secret:alpha-secret}',
      },
      next: ['parse'],
    },
    { id: 'parse', type: 'file.parse.dsv', next: ['rename'] },
    {
      id: 'rename',
      type: 'field.rename',
      params: { fields: [{ sourceField: 'a', targetField: 'b' }] },
      next: ['format'],
    },
    { id: 'format', type: 'file.format.dsv', params: { fileName: 'out_${now}_${jobId}.csv' }, next: ['write'] },
    {
      id: 'write',
      type: 'datasource.write.amazon.s3',
      params: { bucketName: 'alpha-out', objectKeyPrefix: 'exports/${now:yyyy}/' },
    },
  ],
  schedules: [
    {
      name: 'nightly',
      frequencyType: 'day',
      frequencyInterval: 1,
      nextJobStartTime: '2026-01-01 03:00:00',
      successEmailNotification: 'ops@example.com',
      failureEmailNotification: 'ops@example.com, oncall@example.com',
    },
    {
      name: 'quarterly',
      frequencyType: 'month',
      frequencyInterval: 3,
      nextJobStartTime: '2026-02-15T04:30:00Z',
      fullExtract: true,
      limit: 100,
      logLevel: 'debug',
      enabled: false,
      failureEmailNotification: 'oncall@example.com',
    },
    { name: 'launch', frequencyType: 'once', nextJobStartTime: '2026-03-01 09:15:00' },
  ],
};

/** Beta: SFTP with secret credentials → CSV → records; two schedules, no recipients. */
export const BETA = {
  id: 'beta',
  name: 'Beta import',
  steps: [
    {
      id: 'download',
      type: 'datasource.read.sftp',
      params: {
        host: 'sftp.example.com',
        username: '${secret:beta-sftp-user}',
        password: '${secret:beta-sftp-password}',
        remotePath: 'outbox',
      },
      next: ['parse'],
    },
    { id: 'parse', type: 'file.parse.dsv', next: ['rename'] },
    { id: 'rename', type: 'field.rename', params: { fields: [{ sourceField: 'x', targetField: 'y' }] } },
  ],
  schedules: [
    { name: 'quarter-hour', frequencyType: 'minute', frequencyInterval: 15, nextJobStartTime: '2026-01-01 00:05:00' },
    {
      id: 'c0ffee',
      name: 'weekly',
      frequencyType: 'week',
      frequencyInterval: 1,
      nextJobStartTime: '2026-01-05 06:00:00',
    },
  ],
};

/** Gamma: no schedules, no secrets; reads and moves files in a bucket through the role. */
export const GAMMA = {
  id: 'gamma',
  name: 'Gamma',
  steps: [
    {
      id: 'read',
      type: 'datasource.read.amazon.s3',
      params: {
        bucketName: 'gamma-drop',
        objectKeyPrefix: 'incoming/accounts_',
        afterRead: 'move',
        moveToPath: 'done',
      },
      next: ['parse'],
    },
    { id: 'parse', type: 'file.parse.dsv' },
  ],
};

/**
 * Delta: schedules that no single cron expression keeps: a `once` without a start time (runs at deployment), every
 * 3 days from a start (Scheduler rate on that phase), every 5 months (one rule per year of the cycle).
 */
export const DELTA = {
  id: 'delta',
  name: 'Delta',
  steps: [
    { id: 'read', type: 'datasource.read.amazon.s3', params: { bucketName: 'delta-drop' }, next: ['parse'] },
    { id: 'parse', type: 'file.parse.dsv' },
  ],
  schedules: [
    { name: 'first load', frequencyType: 'once', fullExtract: true },
    { name: 'every third day', frequencyType: 'day', frequencyInterval: 3, nextJobStartTime: '2025-12-01 05:00:00' },
    { name: 'five-monthly', frequencyType: 'month', frequencyInterval: 5, nextJobStartTime: '2026-02-15 04:30:00' },
  ],
};

/** The dataflows, loaded and validated. */
export const alpha = (): Dataflow => validDataflow(ALPHA);
export const beta = (): Dataflow => validDataflow(BETA);
export const gamma = (): Dataflow => validDataflow(GAMMA);
export const delta = (): Dataflow => validDataflow(DELTA);
