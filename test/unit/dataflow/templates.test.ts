import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyDataflow, directionOf, integrationOf, listTemplates, outlineOf } from '../../../lib/dataflow/templates.ts';
import { PROJECT_DATAFLOWS } from '../../support/console.ts';
import { graphStep } from '../../support/dataflows.ts';

describe('the templates', () => {
  it('are the shipped dataflows, named by integration and direction', () => {
    // Act
    const templates = listTemplates(PROJECT_DATAFLOWS).map((t) => `${t.integration} ${t.direction} ${t.sourceId}`);

    // Assess
    expect(templates).toEqual([
      'amazon-s3 file sample-s3-csv',
      'eloqua inbound eloqua-inbound',
      'eloqua outbound eloqua-outbound',
      'eloqua-bulk inbound eloqua-bulk-inbound',
      'eloqua-bulk outbound eloqua-bulk-outbound',
    ]);
  });

  it('read the direction from the steps and the integration from the id or the first reader', () => {
    // Prepare
    const outbound = [
      graphStep('account', 'datasource.read.gigya.account', ['sftp']),
      graphStep('sftp', 'datasource.write.sftp'),
    ];
    const inbound = [
      graphStep('sftp', 'datasource.read.sftp', ['account']),
      graphStep('account', 'datasource.write.gigya.account'),
    ];

    // Act
    const seen = [
      [directionOf({ steps: outbound }), integrationOf({ id: 'mailchimp-export', steps: outbound })],
      [directionOf({ steps: inbound }), integrationOf({ id: 'nightly', steps: inbound })],
    ];

    // Assess
    expect(seen).toEqual([
      ['outbound', 'mailchimp'],
      ['inbound', 'sftp'],
    ]);
  });

  it('outline the success path from the entry, with the steps off it in parentheses', () => {
    // Act
    const outline = outlineOf({
      steps: [
        graphStep('write', 'datasource.write.sftp'),
        graphStep('read', 'datasource.read.sftp', ['parse']),
        graphStep('parse', 'file.parse.dsv', ['write'], ['errors']),
        graphStep('errors', 'file.format.json'),
      ],
    });

    // Assess
    expect(outline).toBe('read > parse > write (+ errors)');
  });

  it('copy a dataflow under a new id with its schedules disabled and server-kept fields left behind', () => {
    // Act
    const copy = copyDataflow(
      {
        id: 'old',
        name: 'Old',
        lastRuntime: '2026-01-01T00:00:00Z',
        version: 3,
        siteId: 42,
        steps: [],
        schedules: [{ name: 'n', enabled: true }],
      },
      { id: 'new', schema: join('..', 'schema.json') },
    );

    // Assess
    expect(copy).toEqual({
      $schema: join('..', 'schema.json'),
      id: 'new',
      name: 'Old',
      siteId: 42,
      steps: [],
      schedules: [{ name: 'n', enabled: false }],
    });
  });
});
