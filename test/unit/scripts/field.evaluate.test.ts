import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateText } from '../../../lib/dataflow/validate.ts';
import { fieldEvaluate } from '../../../lib/scripts/field.evaluate.ts';
import { defaultRegistry } from '../../../lib/scripts/index.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { FIXTURES_DIR } from '../../support/dataflows.ts';

/** The field.evaluate params of a public fixture dataflow. */
function fixtureParams(file: string): Record<string, unknown> {
  const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, file), 'utf8')) as {
    steps: { type: string; params: Record<string, unknown> }[];
  };
  return flow.steps.find((s) => s.type === 'field.evaluate')!.params;
}

describe('field.evaluate', () => {
  it('turns an ESP status into a boolean with the Mailchimp template expression', async () => {
    // Prepare
    const params = fixtureParams('06-mailchimp-inbound.json');

    // Act
    const out = await runScript(fieldEvaluate, params, {
      records: [{ status: 'subscribed' }, { status: 'unsubscribed' }],
    });

    // Assess
    expect(out.records).toEqual([{ status: true }, { status: false }]);
  });

  it('fills an empty or absent value with the Salesforce template expression (|| and null)', async () => {
    // Prepare
    const params = fixtureParams('08-salesforce-outbound.json');
    const records = [{ Golf_Handicap_Number__pc: '' }, {}, { Golf_Handicap_Number__pc: '12' }];

    // Act
    const out = await runScript(fieldEvaluate, params, { records });

    // Assess
    expect(out.records.map((r) => r.Golf_Handicap_Number__pc)).toEqual(['#N/A', '#N/A', '12']);
  });

  it('reads a dotted field nested or flat, and in the underscore form the Campaign Monitor template uses', async () => {
    // Prepare
    const silverpop = fixtureParams('10-silverpop-inbound.json');
    const campaignMonitor = fixtureParams('13-campaign-monitor-inbound.json');

    // Act
    const nested = await runScript(fieldEvaluate, silverpop, { records: [{ data: { subscribed: 'Yes' } }] });
    const flat = await runScript(fieldEvaluate, silverpop, { records: [{ 'data.subscribed': 'Yes' }] });
    const underscore = await runScript(fieldEvaluate, campaignMonitor, {
      records: [{ data: { subscribed: 'unsubscribed' } }],
    });

    // Assess
    expect(nested.records).toEqual([{ data: { subscribed: 'true' } }]);
    expect(flat.records).toEqual([{ 'data.subscribed': 'true' }]);
    expect(underscore.records).toEqual([{ data: { subscribed: 'false' } }]);
  });

  it('evaluates in order, so a later expression sees an earlier result, with transforms and functions', async () => {
    // Prepare
    const params = {
      language: 'jexl',
      fields: [
        { field: 'C_FullName', expression: 'C_FirstName + " " + C_LastName' },
        { field: 'C_Upper', expression: 'C_FullName|upper' },
        { field: 'C_HasTags', expression: 'not empty(tags) and size(tags) ge 2' },
        { field: 'C_Gone', expression: 'absent' },
      ],
    };

    // Act
    const out = await runScript(fieldEvaluate, params, {
      records: [{ C_FirstName: 'Anna', C_LastName: 'Müller', tags: ['a', 'b'], C_Gone: 'x' }],
    });

    // Assess
    expect(out.records).toEqual([
      {
        C_FirstName: 'Anna',
        C_LastName: 'Müller',
        tags: ['a', 'b'],
        C_FullName: 'Anna Müller',
        C_Upper: 'ANNA MÜLLER',
        C_HasTags: true,
      },
    ]);
  });

  it('rejects a record on which an expression fails, unchanged and with the message, and goes on', async () => {
    // Prepare
    const params = {
      fields: [
        { field: 'first', expression: '"set"' },
        { field: 'n', expression: 'name|replace(pattern, "")' },
      ],
    };
    const records = [
      { id: 1, name: 'x', pattern: '(' },
      { id: 2, name: 'abc', pattern: 'b' },
    ];

    // Act
    const out = await runScript(fieldEvaluate, params, { records });

    // Assess
    expect(out.records).toEqual([{ id: 2, name: 'abc', pattern: 'b', first: 'set', n: 'ac' }]);
    expect(out.rejected).toEqual([
      {
        id: 1,
        name: 'x',
        pattern: '(',
        _errorDetails: {
          code: 'IDX_EXPRESSION_FAILED',
          message: 'n: Invalid regular expression: /(/gu: missing ): (',
          field: 'n',
          stepId: 'field.evaluate',
        },
      },
    ]);
    expect(out.counters).toMatchObject({ recordsIn: 2, recordsOut: 1, recordsRejected: 1 });
  });

  it('reports an expression that does not parse as a validation error naming the step', () => {
    // Prepare
    const dataflow = {
      id: 'df',
      name: 'df',
      steps: [
        { id: 'in', type: 'file.parse.dsv', params: {}, next: ['compute name'], error: [] },
        {
          id: 'compute name',
          type: 'field.evaluate',
          params: { language: 'jexl', fields: [{ field: 'x', expression: "status eq 'a' ?" }] },
          next: [],
          error: [],
        },
      ],
    };

    // Act
    const { problems } = validateText(JSON.stringify(dataflow), defaultRegistry());

    // Assess
    expect(problems).toContainEqual(
      expect.objectContaining({
        code: 'IDX_EXPRESSION_INVALID',
        stepId: 'compute name',
        path: '$.steps[1].params.fields[0].expression',
      }),
    );
  });

  it('refuses a lookahead written in an =~ pattern at validation, naming the construct', () => {
    // Prepare
    const dataflow = {
      id: 'df',
      name: 'df',
      steps: [
        { id: 'in', type: 'file.parse.dsv', params: {}, next: ['match'], error: [] },
        {
          id: 'match',
          type: 'field.evaluate',
          params: { language: 'jexl', fields: [{ field: 'x', expression: "email =~ '(?=.*@).*' ? 1 : 0" }] },
          next: [],
          error: [],
        },
      ],
    };

    // Act
    const { problems } = validateText(JSON.stringify(dataflow), defaultRegistry());

    // Assess
    expect(problems).toContainEqual(
      expect.objectContaining({
        code: 'IDX_REGEX_UNSUPPORTED',
        stepId: 'match',
        path: '$.steps[1].params.fields[0].expression',
        message: expect.stringContaining('a lookahead'),
      }),
    );
  });

  it('matches a hostile value against a backtracking =~ pattern in linear time', async () => {
    // Prepare
    const params = { fields: [{ field: 'm', expression: "name =~ '(a+)+b'" }] };
    const records = [{ name: `${'a'.repeat(30)}!` }];

    // Act
    const started = process.hrtime.bigint();
    const out = await runScript(fieldEvaluate, params, { records });
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    // Assess: with JavaScript's engine this value takes about a minute.
    expect(out.records).toEqual([{ name: `${'a'.repeat(30)}!`, m: false }]);
    expect(elapsedMs).toBeLessThan(1000);
  });
});
