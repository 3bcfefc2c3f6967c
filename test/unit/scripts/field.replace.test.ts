import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fieldReplace } from '../../../lib/scripts/field.replace.ts';
import { runScript } from '../../../lib/testing/harness.ts';
import { FIXTURES_DIR } from '../../support/dataflows.ts';

describe('field.replace', () => {
  it('strips pipes, line breaks and non-ASCII from every text value with the Epsilon template rules', async () => {
    // Prepare
    const flow = JSON.parse(readFileSync(join(FIXTURES_DIR, '03-epsilon-split-json-okfile-sftp.json'), 'utf8')) as {
      steps: { type: string; params: Record<string, unknown> }[];
    };
    const params = flow.steps.find((s) => s.type === 'field.replace')!.params;
    const records = [{ name: 'Zoë|Smith\nJr', n: 42, nested: { city: 'Zürich', list: ['a|b'] }, ok: true }];

    // Act
    const out = await runScript(fieldReplace, params, { records });

    // Assess
    expect(out.records).toEqual([{ name: 'Zo Smith Jr', n: 42, nested: { city: 'Zrich', list: ['a b'] }, ok: true }]);
  });

  it('replaces in one field with groups in the replacement, leaving other fields and non-text values alone', async () => {
    // Prepare
    const params = {
      fields: [
        { field: 'profile.phone', regex: '^\\+(\\d{2})\\s*(\\d+)$', replacement: '00$1-$2' },
        { field: 'price', regex: '\\d', replacement: 'x' },
        { field: 'name', regex: '(?<first>\\w+) (?<last>\\w+)', replacement: '${last}, ${first} \\$$' },
      ],
    };
    const records = [{ profile: { phone: '+33 612345', other: '+33 1' }, price: 12, name: 'Anna Smith' }];

    // Act
    const out = await runScript(fieldReplace, params, { records });

    // Assess
    expect(out.records).toEqual([
      { profile: { phone: '0033-612345', other: '+33 1' }, price: 12, name: 'Smith, Anna $$' },
    ]);
  });

  it('refuses a regular expression that does not compile at validation', async () => {
    // Act / Assess
    await expect(
      runScript(fieldReplace, { fields: [{ field: '*', regex: '(' }] }, { records: [] }),
    ).rejects.toMatchObject({
      code: 'IDX_REGEX_INVALID',
      location: { param: 'fields[0].regex' },
    });
  });
});

describe('field.replace regular expressions', () => {
  it('refuses a backreference at validation with a code naming the construct', async () => {
    // Act / Assess
    await expect(
      runScript(fieldReplace, { fields: [{ field: 'name', regex: '(a)\\1' }] }, { records: [] }),
    ).rejects.toMatchObject({
      code: 'IDX_REGEX_UNSUPPORTED',
      message: expect.stringContaining('a backreference'),
      location: { param: 'fields[0].regex' },
    });
  });

  it('runs a catastrophically backtracking pattern over a hostile value in linear time', async () => {
    // Prepare
    const records = [{ name: `${'a'.repeat(30)}!` }];

    // Act
    const started = process.hrtime.bigint();
    const out = await runScript(
      fieldReplace,
      { fields: [{ field: 'name', regex: '(a+)+$', replacement: 'x' }] },
      {
        records,
      },
    );
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;

    // Assess: with JavaScript's engine this value takes tens of seconds.
    expect(out.records).toEqual([{ name: `${'a'.repeat(30)}!` }]);
    expect(elapsedMs).toBeLessThan(1000);
  });
});
