import { describe, expect, it } from 'vitest';
import type { DataRecord } from '../../../lib/core/script.ts';
import { fileEmpty } from '../../../lib/scripts/file.empty.ts';
import { fileFormatCount } from '../../../lib/scripts/file.format.count.ts';
import { fileFormatDsv } from '../../../lib/scripts/file.format.dsv.ts';
import { fileFormatJson } from '../../../lib/scripts/file.format.json.ts';
import { recordEvaluate } from '../../../lib/scripts/record.evaluate.ts';
import { runScript, runScriptSliced } from '../../../lib/testing/harness.ts';

/** Accounts whose later records carry a field the first lacks, and text that needs quoting. */
function accounts(n: number): DataRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    UID: `uid-${i}`,
    email: `user${i}@example.com`,
    name: i % 7 === 0 ? `O'Brien, "${i}"` : `Name ${i}`,
    ...(i > 0 && i % 3 === 0 ? { late: i } : {}),
  }));
}

const records = accounts(5_500);

/** The files of a run as text, by name. */
const text = (files: readonly { name: string; content: Buffer }[]) =>
  Object.fromEntries(files.map((f) => [f.name, f.content.toString('utf8')]));

describe('file.format.dsv across invocations', () => {
  it('writes the same bytes in one file as one invocation, the header once and the columns of the first record', async () => {
    // Prepare
    const params = { fileName: 'out.csv', writeBom: true };

    // Act
    const whole = await runScript(fileFormatDsv, params, { records });
    const sliced = await runScriptSliced(fileFormatDsv, params, { records, slice: 1000 });

    // Assess
    expect(sliced.invocations).toBe(6);
    expect(sliced.files.map((f) => f.name)).toEqual(['out.csv']);
    expect(text(sliced.files)).toEqual(text(whole.files));
    expect(text(sliced.files)['out.csv']?.split('\n').filter(Boolean)).toHaveLength(5_501);
  });

  it('splits by maxFileSize at the same rows as one invocation', async () => {
    // Prepare
    const params = { fileName: 'out.csv', columns: ['UID', 'email'], maxFileSize: 0.05 };

    // Act
    const whole = await runScript(fileFormatDsv, params, { records });
    const sliced = await runScriptSliced(fileFormatDsv, params, { records, slice: 700 });

    // Assess
    expect(whole.files.length).toBeGreaterThan(3);
    expect(text(sliced.files)).toEqual(text(whole.files));
  });
});

describe('file.format.json across invocations', () => {
  it('writes one valid JSON array equal to one invocation’s', async () => {
    // Prepare
    const params = { fileName: 'out.json', wrapField: 'accounts' };

    // Act
    const whole = await runScript(fileFormatJson, params, { records });
    const sliced = await runScriptSliced(fileFormatJson, params, { records, slice: 1000 });

    // Assess
    expect(text(sliced.files)).toEqual(text(whole.files));
    expect((JSON.parse(text(sliced.files)['out.json'] ?? '') as { accounts: unknown[] }).accounts).toHaveLength(5_500);
  });

  it('closes the array in the last invocation even when it brings no record', async () => {
    // Prepare
    const params = { fileName: 'out.json' };
    const first = await runScript(fileFormatJson, params, { records: records.slice(0, 10), final: false });

    // Act
    const last = await runScript(fileFormatJson, params, { records: [], continuation: first.continuation });

    // Assess
    const joined = Buffer.concat([...first.files, ...last.files].map((f) => f.content)).toString('utf8');
    expect(JSON.parse(joined)).toEqual(records.slice(0, 10));
  });

  it('splits JSON Lines by maxFileSize at the same records as one invocation', async () => {
    // Prepare
    const params = { fileName: 'out.jsonl', format: 'jsonLines', maxFileSize: 0.04 };

    // Act
    const whole = await runScript(fileFormatJson, params, { records });
    const sliced = await runScriptSliced(fileFormatJson, params, { records, slice: 300 });

    // Assess
    expect(whole.files.length).toBeGreaterThan(3);
    expect(text(sliced.files)).toEqual(text(whole.files));
  });
});

describe('file.format.count across invocations', () => {
  it('counts every invocation’s records and writes the count once', async () => {
    // Prepare
    const params = { fileName: 'out.count', prefix: 'records=' };

    // Act
    const whole = await runScript(fileFormatCount, params, { records });
    const sliced = await runScriptSliced(fileFormatCount, params, { records, slice: 1000 });

    // Assess
    expect(text(sliced.files)).toEqual({ 'out.count': 'records=5500\n' });
    expect(text(sliced.files)).toEqual(text(whole.files));
  });
});

describe('file.empty across invocations', () => {
  it('writes its marker once, after the last invocation', async () => {
    // Act
    const sliced = await runScriptSliced(fileEmpty, { fileName: 'done.ok', content: 'ok' }, { records, slice: 1000 });

    // Assess
    expect(sliced.files).toEqual([{ name: 'done.ok', content: Buffer.from('ok') }]);
  });
});

describe('record.evaluate across invocations', () => {
  it('keeps shared variables and calls process(null) once, after the last invocation', async () => {
    // Prepare
    const source = `function process(record, ctx) {
      if (record === null) return { total: ctx.getSharedVariable('n') };
      ctx.setSharedVariable('n', (ctx.getSharedVariable('n') || 0) + 1);
      return { UID: record.UID, seen: ctx.getSharedVariable('n') };
    }`;
    const params = { script: Buffer.from(source).toString('base64'), notifyLastRecord: true };

    // Act
    const whole = await runScript(recordEvaluate, params, { records });
    const sliced = await runScriptSliced(recordEvaluate, params, { records, slice: 1000 });

    // Assess
    expect(sliced.invocations).toBe(6);
    expect(sliced.records).toEqual(whole.records);
    expect(sliced.records.at(-1)).toEqual({ total: 5_500 });
  });
});
